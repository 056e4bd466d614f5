"""`retailgraph demo`: the sandbox upstreams in a child process and the graph wired to them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace

import httpx

from graph.settings import DEVELOPMENT, Settings

SANDBOX_NAMES = ("erp", "wms", "servicedesk")


def start_sandbox(host: str, port_base: int, seed: int) -> subprocess.Popen[bytes]:
    """Start `python -m sandbox` and wait until all three apps answer."""
    child = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--host", host, "--port-base", str(port_base),
         "--seed", str(seed)],
    )
    deadline = time.monotonic() + 30
    pending = [f"http://{host}:{port_base + i}/_sandbox/stats" for i in range(3)]
    while pending:
        if child.poll() is not None:
            raise RuntimeError(f"sandbox exited with code {child.returncode}")
        if time.monotonic() > deadline:
            child.terminate()
            raise RuntimeError("sandbox did not start within 30 s")
        try:
            httpx.get(pending[0], timeout=1.0).raise_for_status()
            pending.pop(0)
        except httpx.HTTPError:
            time.sleep(0.1)
    return child


def demo_settings(host: str, port_base: int) -> Settings:
    """Environment settings, pointed at the sandbox and forced to development."""
    settings = Settings.from_env({k: v for k, v in os.environ.items() if k != "RETAILGRAPH_ENV"})
    urls = {f"{name}_url": f"http://{host}:{port_base + i}" for i, name in enumerate(SANDBOX_NAMES)}
    return replace(settings, env=DEVELOPMENT, **urls)  # type: ignore[arg-type]


def run_demo(host: str, port: int, seed: int, sandbox_port_base: int) -> int:
    """Run until interrupted; the sandbox child is always stopped on the way out."""
    import uvicorn

    from graph.app import create_app

    child = start_sandbox(host, sandbox_port_base, seed)
    try:
        app = create_app(demo_settings(host, sandbox_port_base))
        print(f"retailgraph demo: GraphiQL at http://{host}:{port}/graphql", flush=True)
        uvicorn.run(app, host=host, port=port, log_level="info")
    finally:
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
    return 0

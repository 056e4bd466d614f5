"""`retailgraph demo`: the sandbox upstreams in a child process and the graph wired to them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import replace

import httpx

from graph.settings import DEVELOPMENT, Settings

SANDBOX_NAMES = ("erp", "wms", "servicedesk")


def start_sandbox(host: str, port_base: int, seed: int, *,
                  webhooks: Mapping[str, str] | None = None,
                  webhook_secret: str | None = None) -> subprocess.Popen[bytes]:
    """Start `python -m sandbox` and wait until all three apps answer.

    `webhooks` maps source names to the URLs their change notifications go to.
    """
    hooks = [arg for name, url in (webhooks or {}).items() for arg in (f"--{name}-webhook-url", url)]
    if webhook_secret:
        hooks += ["--webhook-secret", webhook_secret]
    child = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--host", host, "--port-base", str(port_base),
         "--seed", str(seed), *hooks],
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

    settings = demo_settings(host, sandbox_port_base)
    # The sandbox tells the graph about its changes, as the real upstreams' webhooks would.
    webhooks = {name: f"http://{host}:{port}/webhooks/{name}" for name in SANDBOX_NAMES}
    child = start_sandbox(host, sandbox_port_base, seed, webhooks=webhooks,
                          webhook_secret=settings.webhook_secret)
    try:
        app = create_app(settings)
        print(f"retailgraph demo: GraphiQL at http://{host}:{port}/graphql", flush=True)
        uvicorn.run(app, host=host, port=port, log_level="info")
    finally:
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
    return 0

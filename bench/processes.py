"""The graph under test as a separate uvicorn process, and /proc readings of its cost."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (uvicorn workers are children of the supervisor)."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            pending += [int(child) for child in task.read_text().split()]
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of the process tree so far."""
    total = 0
    for member in _process_tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def peak_rss_mb(pid: int) -> float:
    """Largest peak resident set (VmHWM) of any process in the tree, in MiB."""
    peak = 0
    for member in _process_tree(pid):
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except FileNotFoundError:
            continue
    return peak / 1024


class GraphProcess:
    """`uvicorn graph.app:create_app` on a port, started and stopped as a context manager."""

    def __init__(self, port: int, workers: int, env: dict[str, str]) -> None:
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self._command = [
            sys.executable, "-m", "uvicorn", "graph.app:create_app", "--factory",
            "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
            "--log-level", "warning", "--no-access-log",
        ]
        self._env = {**os.environ, **env}
        self._child: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """The uvicorn process id."""
        assert self._child is not None
        return self._child.pid

    def __enter__(self) -> GraphProcess:
        self._child = subprocess.Popen(self._command, env=self._env)
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if self._child.poll() is not None or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise RuntimeError("graph process did not become healthy")
            time.sleep(0.1)

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._child is not None and self._child.poll() is None:
            self._child.terminate()
            try:
                self._child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._child.kill()

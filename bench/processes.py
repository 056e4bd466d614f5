"""The servers under test as separate uvicorn processes, and /proc readings of their cost."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
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
            try:
                pending += [int(child) for child in task.read_text().split()]
            except FileNotFoundError:
                continue
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


def _status_kib(pid: int, key: str) -> int:
    """One `VmXXX:` figure of /proc/PID/status in KiB (0 when the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


def worker_pids(pid: int, workers: int) -> list[int]:
    """The processes that serve requests: uvicorn itself with one worker, else its children."""
    tree = _process_tree(pid)
    if workers <= 1:
        return [pid]
    return [member for member in tree if member != pid and _status_kib(member, "VmRSS:") > 0]


def peak_rss_mb(pid: int, workers: int = 1) -> list[float]:
    """Peak resident set (VmHWM) of each worker, in MiB."""
    return [round(_status_kib(member, "VmHWM:") / 1024, 1) for member in worker_pids(pid, workers)]


def rss_mb(pid: int, workers: int = 1) -> list[float]:
    """Current resident set (VmRSS) of each worker, in MiB."""
    return [round(_status_kib(member, "VmRSS:") / 1024, 1) for member in worker_pids(pid, workers)]


class ServerProcess:
    """`uvicorn APP --factory` on a loopback port, started and stopped as a context manager."""

    def __init__(
        self,
        app: str,
        port: int,
        env: dict[str, str],
        *,
        workers: int = 1,
        loop: str = "auto",
        http: str = "auto",
        health: str = "/healthz",
    ) -> None:
        self.port = port
        self.workers = workers
        self.base_url = f"http://127.0.0.1:{port}"
        self._health = health
        self._command = [
            sys.executable, "-m", "uvicorn", app, "--factory",
            "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
            "--loop", loop, "--http", http, "--log-level", "warning", "--no-access-log",
        ]
        self._env = {**os.environ, **env}
        if workers > 1:  # workers share /metrics through sample files (docs/observability.md)
            self._env.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="rg-bench-prom-"))
        self._child: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """The uvicorn process id."""
        assert self._child is not None
        return self._child.pid

    def __enter__(self) -> ServerProcess:
        self._child = subprocess.Popen(self._command, env=self._env)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.base_url}{self._health}", timeout=1.0).status_code == 200:
                    if len(worker_pids(self.pid, self.workers)) >= self.workers:
                        return self
            except httpx.HTTPError:
                pass
            if self._child.poll() is not None or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise RuntimeError(f"{self._command[3]} did not become healthy")
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
                self._child.wait(timeout=5)


class GraphProcess(ServerProcess):
    """The graph (`graph.app:create_app`) under test."""

    def __init__(self, port: int, workers: int, env: dict[str, str], **options: str) -> None:
        super().__init__("graph.app:create_app", port, env, workers=workers, **options)  # type: ignore[arg-type]

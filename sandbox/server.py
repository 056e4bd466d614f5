"""Serve the three sandbox apps with uvicorn in one process (ports base, +1, +2)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from collections.abc import Generator, Sequence
from datetime import date

import uvicorn

from sandbox.apps import build


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to serve(): three servers share one."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def serve_async(host: str = "127.0.0.1", port_base: int = 8101, seed: int = 42,
                      now: date | None = None, token: str = "sandbox-token",
                      wms_webhook_url: str | None = None,
                      webhook_secret: str = "sandbox-webhook-secret",
                      log_level: str = "warning", erp_webhook_url: str | None = None,
                      servicedesk_webhook_url: str | None = None) -> None:
    """Run ERP on port_base, WMS on +1, service platform on +2 until SIGINT/SIGTERM."""
    apps = build(seed=seed, now=now, token=token, wms_webhook_url=wms_webhook_url,
                 webhook_secret=webhook_secret, erp_webhook_url=erp_webhook_url,
                 servicedesk_webhook_url=servicedesk_webhook_url)
    servers = [_Server(uvicorn.Config(app, host=host, port=port_base + offset,
                                      log_level=log_level, lifespan="off"))
               for offset, app in enumerate((apps.erp, apps.wms, apps.servicedesk))]

    def stop(*_: object) -> None:
        for server in servers:
            server.should_exit = True

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop)
    try:
        await asyncio.gather(*(server.serve() for server in servers))
    finally:
        stop()


def serve(host: str = "127.0.0.1", port_base: int = 8101, seed: int = 42,
          now: date | None = None, token: str = "sandbox-token",
          wms_webhook_url: str | None = None,
          webhook_secret: str = "sandbox-webhook-secret", erp_webhook_url: str | None = None,
          servicedesk_webhook_url: str | None = None) -> None:
    """Blocking entry point used by `retailgraph sandbox` and the demo's child process."""
    asyncio.run(serve_async(host, port_base, seed, now, token, wms_webhook_url, webhook_secret,
                            erp_webhook_url=erp_webhook_url,
                            servicedesk_webhook_url=servicedesk_webhook_url))


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m sandbox --port-base 8101 --seed 42`."""
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port-base", type=int, default=8101)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--now", type=date.fromisoformat, default=None,
                        help="the seed's 'today' (YYYY-MM-DD); default today UTC")
    parser.add_argument("--token", default="sandbox-token")
    parser.add_argument("--wms-webhook-url", default=None)
    parser.add_argument("--erp-webhook-url", default=None)
    parser.add_argument("--servicedesk-webhook-url", default=None)
    parser.add_argument("--webhook-secret", default="sandbox-webhook-secret")
    args = parser.parse_args(argv)
    print(f"sandbox: ERP http://{args.host}:{args.port_base}  "
          f"WMS http://{args.host}:{args.port_base + 1}  "
          f"service desk http://{args.host}:{args.port_base + 2}  (seed {args.seed})",
          flush=True)
    serve(args.host, args.port_base, args.seed, args.now, args.token, args.wms_webhook_url,
          args.webhook_secret, erp_webhook_url=args.erp_webhook_url,
          servicedesk_webhook_url=args.servicedesk_webhook_url)

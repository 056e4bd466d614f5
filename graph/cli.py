"""The `retailgraph` command: demo, serve, sandbox, schema, token."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments and run one subcommand; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    return int(handler(args) or 0)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="retailgraph", description=__doc__)
    commands = parser.add_subparsers(title="commands")

    demo = commands.add_parser("demo", help="sandbox upstreams + the graph, wired together")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument("--sandbox-port-base", type=int, default=8101)
    demo.set_defaults(handler=_demo)

    serve = commands.add_parser("serve", help="the graph alone, configured from the environment")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(handler=_serve)

    sandbox = commands.add_parser("sandbox", help="only the three sandbox upstreams")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port-base", type=int, default=8101)
    sandbox.add_argument("--seed", type=int, default=42)
    sandbox.set_defaults(handler=_sandbox)

    schema = commands.add_parser("schema", help="export the SDL or check it against a baseline")
    schema_commands = schema.add_subparsers(title="schema commands")
    export = schema_commands.add_parser("export", help="print the SDL")
    export.set_defaults(handler=_schema_export)
    check = schema_commands.add_parser("check", help="breaking/dangerous changes vs a baseline")
    check.add_argument("baseline")
    check.set_defaults(handler=_schema_check)

    token = commands.add_parser("token", help="mint a development JWT")
    token.add_argument("--role", action="append", required=True, dest="roles")
    token.add_argument("--sub", default="dev-user")
    token.add_argument("--ttl", type=int, default=3600)
    token.add_argument("--client", default=None, help="client app id (selects its persisted-query safelist)")
    token.set_defaults(handler=_token)
    return parser


def _demo(args: argparse.Namespace) -> int:
    from graph.demo import run_demo

    return run_demo(
        host=args.host, port=args.port, seed=args.seed, sandbox_port_base=args.sandbox_port_base
    )


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from graph.settings import Settings

    settings = Settings.from_env()  # fail fast on bad configuration, before forking workers
    if args.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Workers share /metrics through sample files; set before any of them imports prometheus.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str((settings.data_dir / "prometheus").resolve())
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        _fresh_sample_dir(Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]))
    # Only now: graph.logs imports no metrics, so this supervising process writes no samples.
    from graph.logs import uvicorn_log_config

    uvicorn.run(
        "graph.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="info",
        log_config=uvicorn_log_config(settings.log_format),
        access_log=False,  # graph/logs.py writes one structured line per operation instead
    )
    return 0


def _fresh_sample_dir(path: Path) -> None:
    """Create prometheus-client's multiprocess directory and empty it: stale files add old counts."""
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()


def _sandbox(args: argparse.Namespace) -> int:
    from sandbox.server import serve

    serve(host=args.host, port_base=args.port_base, seed=args.seed)
    return 0


def _schema_export(args: argparse.Namespace) -> int:
    from graph.schema import schema

    sys.stdout.write(schema.as_str() + "\n")
    return 0


def _schema_check(args: argparse.Namespace) -> int:
    from graph.governance import compare_with_baseline

    from pathlib import Path

    report = compare_with_baseline(Path(args.baseline).read_text(encoding="utf-8"))
    for line in report.lines():
        print(line)
    return 1 if report.breaking else 0


def _token(args: argparse.Namespace) -> int:
    from graph.auth import mint_token
    from graph.settings import Settings

    settings = Settings.from_env(os.environ)
    print(mint_token(settings, sub=args.sub, roles=args.roles, ttl_s=args.ttl, client_id=args.client))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

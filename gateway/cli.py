"""`gateway serve` and `gateway check`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gateway.config import ConfigError, GatewayConfig, default_config, load_config

DEFAULT_CONFIG = Path("gateway.yaml")


def _load(path: Path, explicit: bool) -> tuple[GatewayConfig, Path | None]:
    """The config at `path`; without `--config` and without a ./gateway.yaml,
    the embedded default (the seed's six providers on loopback)."""
    if not explicit and not path.exists():
        return default_config(), None
    return load_config(path), path


def _serve(args: argparse.Namespace) -> int:
    try:
        config, path = _load(args.config, explicit=args.config_given)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    from gateway.server import serve

    where = path or "embedded default"
    print(f"gateway: serving on http://{args.host}:{args.port} with {where}", file=sys.stderr)
    serve(config, path, host=args.host, port=args.port, workers=args.workers)
    return 0


def _check(args: argparse.Namespace) -> int:
    failed = False
    for path in args.files:
        try:
            config = load_config(path)
        except ConfigError as exc:
            failed = True
            for issue in exc.issues:
                print(issue, file=sys.stderr)
            continue
        count = sum(len(config.providers.of(t)) for t in ("sms", "email"))
        print(f"{path}: OK ({count} providers)")
    return 1 if failed else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the gateway in the foreground")
    serve.add_argument(
        "--config", type=Path, default=None, help="config file (default gateway.yaml)"
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    serve.set_defaults(handler=_serve)

    check = commands.add_parser(
        "check", help="validate config files, print every error, exit 1 on any"
    )
    check.add_argument("files", type=Path, nargs="+", metavar="FILE")
    check.set_defaults(handler=_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        args.config_given = args.config is not None
        args.config = args.config or DEFAULT_CONFIG
        if args.workers < 1:
            print("gateway: --workers must be at least 1", file=sys.stderr)
            return 2
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())

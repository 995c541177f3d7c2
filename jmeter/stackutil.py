#!/usr/bin/env python3
"""Small steps of jmeter/loadtest-stack and jmeter/run, kept out of shell.

    stackutil.py free-port
    stackutil.py wait-file PATH --timeout S [--pid PID]
    stackutil.py gateway-config --ready-file F --base gateway.yaml --out cfg.yaml
    stackutil.py wait-http URL --timeout S [--pid PID]
    stackutil.py probe-route HOST PORT [--protocol http] [--sms-path /api/sms]

Only `gateway-config` needs PyYAML (the project's venv has it); the rest is
standard library, so jmeter/run works with any python3.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (the kernel's pick for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _alive(pid: int | None) -> bool:
    if pid is None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wait_file(path: Path, timeout: float, pid: int | None = None) -> bool:
    """True once `path` holds JSON; False on timeout or when `pid` has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            json.loads(path.read_text(encoding="utf-8"))
            return True
        except (OSError, ValueError):
            pass
        if not _alive(pid):
            return False
        time.sleep(0.05)
    return False


def wait_http(url: str, timeout: float, pid: int | None = None) -> bool:
    """True once GET `url` answers 200; False on timeout or when `pid` has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return True
        except (OSError, urllib.error.URLError):
            pass
        if not _alive(pid):
            return False
        time.sleep(0.1)
    return False


def gateway_config(ready: dict[str, Any], base: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """`base` (the repo's gateway.yaml) with its providers moved to the simulator's
    ports from its --ready-file, and relative `*_dir`/`*_file` paths made absolute
    (the new file lives elsewhere)."""
    config = dict(base)
    for key, value in base.items():
        if key.endswith(("_dir", "_file", "_path")) and isinstance(value, str):
            path = Path(value)
            if not path.is_absolute():
                config[key] = str((base_dir / path).resolve())
    providers: dict[str, dict[str, Any]] = {"sms": {}, "email": {}}
    for name, url in sorted(ready["urls"].items()):
        message_type, index = name.rstrip("0123456789"), name[len(name.rstrip("0123456789")) :]
        previous = ((base.get("providers") or {}).get(message_type) or {}).get(f"provider{index}")
        entry = dict(previous or {})
        entry["url"] = url
        providers[message_type][f"provider{index}"] = entry
    config["providers"] = providers
    return config


def probe_route(host: str, port: int, protocol: str = "http", sms_path: str = "/api/sms") -> str:
    """`virtual` when the gateway serves the virtual SMS route, else `transparent`.

    Sends an empty JSON object, which every route refuses with 400 before any
    provider call: a 400 means the route exists; a 404 or 405 means it does not.
    """
    request = urllib.request.Request(
        f"{protocol}://{host}:{port}{sms_path}",
        data=b"{}",
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    return "transparent" if status in (404, 405) else "virtual"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("free-port")
    wait_f = commands.add_parser("wait-file")
    wait_f.add_argument("path", type=Path)
    wait_f.add_argument("--timeout", type=float, default=20)
    wait_f.add_argument("--pid", type=int)
    config = commands.add_parser("gateway-config")
    config.add_argument("--ready-file", type=Path, required=True)
    config.add_argument("--base", type=Path)
    config.add_argument("--out", type=Path, required=True)
    wait = commands.add_parser("wait-http")
    wait.add_argument("url")
    wait.add_argument("--timeout", type=float, default=30)
    wait.add_argument("--pid", type=int)
    probe = commands.add_parser("probe-route")
    probe.add_argument("host")
    probe.add_argument("port", type=int)
    probe.add_argument("--protocol", default="http")
    probe.add_argument("--sms-path", default="/api/sms")
    args = parser.parse_args(argv)

    if args.command == "free-port":
        print(free_port())
        return 0
    if args.command == "wait-file":
        return 0 if wait_file(args.path, args.timeout, args.pid) else 1
    if args.command == "wait-http":
        return 0 if wait_http(args.url, args.timeout, args.pid) else 1
    if args.command == "probe-route":
        try:
            print(probe_route(args.host, args.port, args.protocol, args.sms_path))
        except OSError as exc:
            print(f"probe-route: {exc}", file=sys.stderr)
            return 1
        return 0
    import yaml  # only here: the project's venv has it, a bare python3 may not

    base: dict[str, Any] = {}
    if args.base and args.base.exists():
        base = yaml.safe_load(args.base.read_text(encoding="utf-8")) or {}
    ready = json.loads(args.ready_file.read_text(encoding="utf-8"))
    base_dir = (args.base.parent if args.base else Path.cwd()).resolve()
    config_out = gateway_config(ready, base, base_dir)
    args.out.write_text(yaml.safe_dump(config_out, sort_keys=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`gateway-sim`: the seed's six providers in one process, with opt-in misbehaviour.

Knob flags apply to all six providers; `--provider NAME:knob=value,...` then
overrides some (NAME is sms1..email3, sms, email or all; later wins).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

import uvloop

from gateway.messages import MESSAGE_TYPES
from simulator.knobs import (
    ALL_PORTS_CLOSED,
    KNOB_SPECS,
    KnobError,
    Knobs,
    closes_every_port_for_good,
    parse_assignments,
)
from simulator.providers import PROVIDERS, select
from simulator.runner import Plan, serve

_DEFAULTS: Final = Knobs().as_dict()

EPILOG: Final = """\
defaults reproduce the seed server exactly: validation first (400), then each
valid request fails with probability 0.5 (500), else 200.

per-provider overrides (repeatable; NAME is sms1..3, email1..3, sms, email, all):
  --provider sms2:fail_rate=0,latency_ms=5 --provider email1:down=refuse

runtime control, on every provider port:
  GET  /__control[?target=NAME]           knobs and outage state
  POST /__control {"fail_rate": 0, ...}   partial update; "target": NAME for another
  GET  /__ledger[?scope=all][&keys=all|duplicates|none]
  POST /__reset[?scope=all][&knobs=1]     clear ledgers (and restore startup knobs)
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gateway-sim",
        description="Play the six notification providers of the seed server from one process.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (%(default)s)")
    for kind in MESSAGE_TYPES:
        defaults = ",".join(str(p.default_port) for p in PROVIDERS if p.kind == kind)
        parser.add_argument(
            f"--{kind}-ports",
            metavar="P1,P2,P3",
            help=f"ports of {kind} providers 1..3 (default: $PORT_{kind.upper()}_i or "
            f"{defaults}); 0 picks a free port, see --ready-file",
        )
    knobs = parser.add_argument_group("knobs (all providers; see --provider for one)")
    for name, spec in KNOB_SPECS.items():
        flag = spec.flag or "--" + name.replace("_", "-")
        knobs.add_argument(
            flag,
            dest=name,
            metavar=_metavar(spec.kind),
            help=f"{spec.help} (knob {name}, default {_shown(_DEFAULTS[name])})",
        )
    parser.add_argument(
        "--provider",
        action="append",
        default=[],
        metavar="NAME:KNOB=V[,KNOB=V]",
        help="override knobs of one provider, a type or all (repeatable)",
    )
    parser.add_argument(
        "--ready-file",
        type=Path,
        metavar="PATH",
        help="write JSON {pid, host, ports, urls} here once every port listens",
    )
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=["debug", "info", "warning", "error"],
        help="log level on stderr (%(default)s)",
    )
    return parser


def _shown(value: object) -> str:
    return "none" if value is None else str(value)


def _metavar(kind: str) -> str:
    return {
        "rate": "P",
        "ms": "MS",
        "optional_ms": "MS",
        "s": "S",
        "optional_s": "S",
        "count": "S",
        "seed": "N",
        "mode": "500|refuse",
    }[kind]


def parse_override(text: str) -> tuple[str, dict[str, str]]:
    """`"sms2:fail_rate=0"` as `("sms2", {"fail_rate": "0"})`; KnobError if malformed."""
    target, sep, assignments = text.partition(":")
    if not sep:
        raise KnobError(text, "expected NAME:knob=value[,knob=value]")
    try:
        select(target)
    except LookupError as exc:
        raise KnobError("provider", exc.args[0]) from None
    return target.strip().lower(), parse_assignments(assignments)


def plan_knobs(common: Mapping[str, str], overrides: Sequence[str]) -> dict[str, Knobs]:
    """Each provider's startup knobs: the common flags, then the overrides in order.

    Every provider's changes are applied at once, so checks across knobs
    (p50 with p99, rates adding up) see the final values, not a half-way state.
    """
    changes = {provider.name: dict(common) for provider in PROVIDERS}
    for override in overrides:
        target, assignments = parse_override(override)
        for provider in select(target):
            changes[provider.name].update(assignments)
    knobs = {name: Knobs().updated(provider_changes) for name, provider_changes in changes.items()}
    if closes_every_port_for_good(knobs.values()):
        raise KnobError("down", ALL_PORTS_CLOSED)
    return knobs


def plan_ports(flags: Mapping[str, str | None], environ: Mapping[str, str]) -> dict[str, int]:
    """Each provider's port: `--<type>-ports`, else `PORT_<TYPE>_<i>`, else the seed's default."""
    ports: dict[str, int] = {}
    for kind in MESSAGE_TYPES:
        providers = [p for p in PROVIDERS if p.kind == kind]
        flag = flags.get(kind)
        if flag is not None:
            values = [value.strip() for value in flag.split(",")]
            if len(values) != len(providers):
                raise ValueError(f"--{kind}-ports: expected {len(providers)} ports, got {flag!r}")
            sources = [(f"--{kind}-ports", value) for value in values]
        else:
            sources = [
                (p.port_env, environ.get(p.port_env, str(p.default_port))) for p in providers
            ]
        for provider, (source, value) in zip(providers, sources, strict=True):
            if not value.isdigit() or not 0 <= int(value) <= 65535:
                raise ValueError(f"{source}: expected a port number 0..65535, got {value!r}")
            ports[provider.name] = int(value)
    fixed = [port for port in ports.values() if port]
    if len(fixed) != len(set(fixed)):
        raise ValueError(f"two providers cannot share a port: {ports}")
    return ports


def make_plan(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> Plan:
    """The plan the command line asks for; exits 2 with a message naming the bad part."""
    parser = build_parser()
    args = parser.parse_args(argv)
    common = {name: getattr(args, name) for name in KNOB_SPECS if getattr(args, name) is not None}
    try:
        ports = plan_ports(
            {kind: getattr(args, f"{kind}_ports") for kind in MESSAGE_TYPES},
            os.environ if environ is None else environ,
        )
        knobs = plan_knobs(common, args.provider)
    except (KnobError, ValueError) as exc:
        parser.error(str(exc))
    logging.basicConfig(
        level=args.log_level.upper(),
        format="gateway-sim %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    return Plan(host=args.host, ports=ports, knobs=knobs, ready_file=args.ready_file)


def main(argv: Sequence[str] | None = None) -> None:
    plan = make_plan(argv)
    sys.exit(uvloop.run(serve(plan)))

"""Render `docs/policies.md`, the reference of every policy knob, from the models.

Run `python -m gateway.config.reference > docs/policies.md`; a test fails when
the file and the models disagree, so the reference cannot drift.
"""

from __future__ import annotations

import json

from annotated_types import Ge, Gt, Le, Lt
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from gateway.config.policy import (
    BackoffPolicy,
    BalancerPolicy,
    BreakerPolicy,
    BudgetPolicy,
    HedgingPolicy,
    Policy,
    RetryPolicy,
)

SECTIONS: list[tuple[str, type[BaseModel]]] = [
    ("", Policy),
    ("balancer", BalancerPolicy),
    ("retry", RetryPolicy),
    ("retry.backoff", BackoffPolicy),
    ("breaker", BreakerPolicy),
    ("budget", BudgetPolicy),
    ("hedging", HedgingPolicy),
]

INTRO = """\
# Policy reference

A policy says how a message finds a provider. Presets live in `policies/`
(`failover`, `hedged-otp`, `bulk-email`, `passthrough`); `gateway.yaml` binds
each route to one (`routes:`) and may override any knob (`policies:`). A knob
left out takes the default below. Durations are milliseconds (`_ms`).
`gateway check gateway.yaml` refuses a bad value with its file, line and reason.

This file is generated from the models in `gateway/config/policy.py`
(`python -m gateway.config.reference > docs/policies.md`); a test keeps it true.
"""


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
        if isinstance(value, BaseModel):
            return "(section)"
    else:
        value = field.default
    return "unset" if value is None else json.dumps(value)


def _range(field: FieldInfo) -> str:
    bounds = []
    for item in field.metadata:
        if isinstance(item, Ge):
            bounds.append(f">= {item.ge}")
        elif isinstance(item, Gt):
            bounds.append(f"> {item.gt}")
        elif isinstance(item, Le):
            bounds.append(f"<= {item.le}")
        elif isinstance(item, Lt):
            bounds.append(f"< {item.lt}")
    annotation = str(field.annotation)
    if "Literal[" in annotation:
        choices = annotation.split("Literal[", 1)[1].split("]", 1)[0].replace("'", "")
        return f"one of {choices}"
    return ", ".join(bounds)


def _table(prefix: str, model: type[BaseModel]) -> list[str]:
    lines = ["| knob | default | valid | meaning |", "| --- | --- | --- | --- |"]
    for name, field in model.model_fields.items():
        if _default(field) == "(section)":
            continue
        knob = f"{prefix}.{name}" if prefix else name
        description = (field.description or "").replace("|", "\\|")
        lines.append(f"| `{knob}` | `{_default(field)}` | {_range(field)} | {description} |")
    return lines


def render() -> str:
    out = [INTRO]
    for prefix, model in SECTIONS:
        title = prefix or "policy"
        out.append(f"## `{title}`\n")
        out.append((model.__doc__ or "").strip() + "\n")
        out.extend(_table(prefix, model))
        out.append("")
    return "\n".join(out)


def main() -> None:
    print(render(), end="")


if __name__ == "__main__":
    main()

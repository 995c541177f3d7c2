"""Per-provider knobs: the opt-in misbehaviour of a real provider that the seed lacks.

Defaults reproduce the seed exactly (fail half the time, nothing else). Each
provider holds one immutable `Knobs`; a change builds a new one with `updated`,
which coerces CLI strings and JSON values alike, so the command line, the
`--provider` overrides and the control endpoint accept the same words and
refuse bad ones with an error that names the knob.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Final, Literal

OutageMode = Literal["500", "refuse"]
OUTAGE_MODES: Final[tuple[OutageMode, ...]] = ("500", "refuse")
# z-score of the 99th percentile of a standard normal, to fit a log-normal to p50 and p99.
Z_99: Final = 2.326

_Kind = Literal["rate", "ms", "optional_ms", "s", "optional_s", "count", "seed", "mode"]
_NONE_WORDS: Final = frozenset({"", "none", "null"})
_UP_WORDS: Final = _NONE_WORDS | {"up", "off", "false", "no"}


class KnobError(ValueError):
    """A knob name or value that cannot be used; `knob` says which, for the caller's answer."""

    def __init__(self, knob: str, reason: str) -> None:
        super().__init__(f"{knob}: {reason}")
        self.knob = knob
        self.reason = reason


@dataclass(frozen=True, slots=True)
class KnobSpec:
    """How one knob is written, read and documented."""

    kind: _Kind
    help: str
    flag: str = ""  # the CLI flag when it is not `--` plus the knob name with dashes


KNOB_SPECS: Final[dict[str, KnobSpec]] = {
    "fail_rate": KnobSpec("rate", "probability that a valid request answers 500, the seed's coin"),
    "latency_ms": KnobSpec("ms", "base delay added before every answer to a valid request"),
    "tail_ratio": KnobSpec("rate", "fraction of requests that also wait --tail-ms"),
    "tail_ms": KnobSpec("ms", "extra delay of the slow tail"),
    "latency_p50_ms": KnobSpec("optional_ms", "median of a log-normal delay (with p99)"),
    "latency_p99_ms": KnobSpec("optional_ms", "99th percentile of the log-normal delay"),
    "hang_rate": KnobSpec("rate", "probability of never answering (until the client leaves)"),
    "reset_rate": KnobSpec(
        "rate", "probability of cutting the connection mid-response (the send did happen)"
    ),
    "throttle_rate": KnobSpec("rate", "probability of answering 429 with Retry-After"),
    "retry_after_s": KnobSpec("count", "Retry-After seconds sent with a 429", flag="--retry-after"),
    "down": KnobSpec(
        "mode", "outage: '500' answers 500 after validation, 'refuse' closes the port"
    ),
    "down_after_s": KnobSpec("s", "start the outage this many seconds from now"),
    "down_for_s": KnobSpec("optional_s", "end the outage by itself after this many seconds"),
    "seed": KnobSpec("seed", "seed of this provider's random streams, for repeatable runs"),
}
# Other spellings accepted wherever a knob is named, after dashes become underscores.
KNOB_ALIASES: Final = {"retry_after": "retry_after_s"}
# An outage window's knobs at rest, restored when the provider comes back up.
_WINDOW_DEFAULTS: Final[dict[str, Any]] = {"down_after_s": 0.0, "down_for_s": None}


@dataclass(frozen=True, slots=True)
class Knobs:
    """What one provider does to a valid request, beyond the seed's coin toss."""

    fail_rate: float = 0.5
    latency_ms: float = 0.0
    tail_ratio: float = 0.0
    tail_ms: float = 0.0
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None
    hang_rate: float = 0.0
    reset_rate: float = 0.0
    throttle_rate: float = 0.0
    retry_after_s: int = 1
    down: OutageMode | None = None
    down_after_s: float = 0.0
    down_for_s: float | None = None
    seed: int | None = None
    # Derived once here so the per-request path reads them instead of recomputing.
    fault_rate: float = field(init=False, repr=False, compare=False)
    lognormal: tuple[float, float] | None = field(init=False, repr=False, compare=False)
    has_latency: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for spec_name, spec in KNOB_SPECS.items():
            _check_range(spec.kind, spec_name, getattr(self, spec_name))
        self._check_together()
        faults = self.hang_rate + self.reset_rate + self.throttle_rate
        lognormal = None
        if self.latency_p50_ms is not None and self.latency_p99_ms is not None:
            sigma = math.log(self.latency_p99_ms / self.latency_p50_ms) / Z_99
            lognormal = (math.log(self.latency_p50_ms), sigma)
        has_latency = bool(self.latency_ms or lognormal or (self.tail_ratio and self.tail_ms))
        object.__setattr__(self, "fault_rate", faults)
        object.__setattr__(self, "lognormal", lognormal)
        object.__setattr__(self, "has_latency", has_latency)

    def _check_together(self) -> None:
        p50, p99 = self.latency_p50_ms, self.latency_p99_ms
        if (p50 is None) != (p99 is None):
            missing = "latency_p99_ms" if p99 is None else "latency_p50_ms"
            raise KnobError(missing, "latency_p50_ms and latency_p99_ms go together: set both")
        if p50 is not None and p99 is not None and p99 < p50:
            raise KnobError("latency_p99_ms", f"must be >= latency_p50_ms ({p50:g}), got {p99:g}")
        faults = self.hang_rate + self.reset_rate + self.throttle_rate
        if faults > 1 + 1e-9:
            raise KnobError(
                "hang_rate+reset_rate+throttle_rate",
                f"must add up to at most 1, got {faults:g}",
            )
        if self.down is None:
            for name, rest in _WINDOW_DEFAULTS.items():
                if getattr(self, name) != rest:
                    raise KnobError(name, "only applies to an outage: set down too")

    def as_dict(self) -> dict[str, Any]:
        """The knobs as JSON-ready values, in declaration order."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.init}

    def updated(self, changes: Mapping[str, object]) -> Knobs:
        """A copy with `changes` applied; names and values as the CLI or JSON give them.

        Bringing a provider up (`down` to none) also clears its outage window,
        unless the same change sets one, so `{"down": null}` is enough.
        """
        coerced: dict[str, Any] = {}
        for raw_name, raw_value in changes.items():
            name = canonical_name(raw_name)
            coerced[name] = _coerce(KNOB_SPECS[name].kind, name, raw_value)
        if "down" in coerced and coerced["down"] is None:
            for name, rest in _WINDOW_DEFAULTS.items():
                coerced.setdefault(name, rest)
        return replace(self, **coerced)


def closes_every_port_for_good(knobs: Iterable[Knobs]) -> bool:
    """Whether these providers' knobs would refuse connections on every port with no
    end set; the control endpoint lives on those ports, so nothing could reopen one."""
    return all(k.down == "refuse" and k.down_for_s is None for k in knobs)


ALL_PORTS_CLOSED: Final = "would close every port for good; leave one up or set down_for_s"


def canonical_name(raw: str) -> str:
    """The knob a user means by `raw` (`fail-rate`, `retry_after`, ...); KnobError if none."""
    name = raw.strip().lower().replace("-", "_")
    name = KNOB_ALIASES.get(name, name)
    if name not in KNOB_SPECS:
        raise KnobError(raw, f"unknown knob (known: {', '.join(KNOB_SPECS)})")
    return name


def parse_assignments(text: str) -> dict[str, str]:
    """`"fail_rate=0,latency_ms=5"` as `{"fail_rate": "0", "latency_ms": "5"}`, names checked."""
    changes: dict[str, str] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        if not sep:
            raise KnobError(item.strip(), "expected knob=value")
        changes[canonical_name(name)] = value.strip()
    return changes


def _coerce(kind: _Kind, name: str, value: object) -> Any:
    """`value` (a CLI string or a JSON value) as the type of a knob of `kind`."""
    if kind == "mode":
        return _outage_mode(name, value)
    optional = kind in ("optional_ms", "optional_s", "seed")
    if value is None or (isinstance(value, str) and value.strip().lower() in _NONE_WORDS):
        if optional:
            return None
        raise KnobError(name, "must be given a value, got nothing")
    if kind in ("count", "seed"):
        return _whole_number(name, value)
    return _number(name, value)


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise KnobError(name, f"expected a number, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise KnobError(name, f"expected a number, got {value!r}") from None
    if not math.isfinite(number):
        raise KnobError(name, f"expected a finite number, got {value!r}")
    return number


def _whole_number(name: str, value: object) -> int:
    number = _number(name, value)
    if not number.is_integer():
        raise KnobError(name, f"expected a whole number, got {value!r}")
    return int(number)


def _outage_mode(name: str, value: object) -> OutageMode | None:
    if value is None or value is False:
        return None
    text = str(value).strip().lower()
    if text in _UP_WORDS:
        return None
    for mode in OUTAGE_MODES:
        if text == mode:
            return mode
    raise KnobError(name, f"must be '500', 'refuse' or none (up), got {value!r}")


def _check_range(kind: _Kind, name: str, value: Any) -> None:
    """Refuse a value of the right type but outside what the knob means."""
    if value is None:
        if kind in ("optional_ms", "optional_s", "seed", "mode"):
            return
        raise KnobError(name, "must be given a value, got nothing")
    if kind == "rate" and not 0 <= value <= 1:
        raise KnobError(name, f"must be between 0 and 1, got {value:g}")
    if kind in ("ms", "s", "count") and value < 0:
        raise KnobError(name, f"must be >= 0, got {value:g}")
    if kind in ("optional_ms", "optional_s") and value <= 0:
        raise KnobError(name, f"must be > 0 (or none), got {value:g}")
    if kind == "mode" and value not in OUTAGE_MODES:
        raise KnobError(name, f"must be '500', 'refuse' or none (up), got {value!r}")

"""The benchmarks' arithmetic, as pure functions over text and numbers.

Nothing here opens a socket or reads a clock, so tests/bench/ checks it on fixed
input: wrk's report, Prometheus exposition text, the simulator's ledger,
percentiles, and the markdown tables the benchmarks write.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# -- percentiles ---------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (q in [0, 100]) with linear interpolation between the two
    nearest ranks (numpy's default); NaN for no values."""
    if not 0 <= q <= 100:
        raise ValueError(f"q is a percentage in [0, 100], got {q!r}")
    if not values:
        return math.nan
    ordered = sorted(values)
    position = q / 100 * (len(ordered) - 1)
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    fraction = position - lower
    return ordered[lower] + (ordered[upper] - ordered[lower]) * fraction


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, NaN instead of a ZeroDivisionError."""
    return numerator / denominator if denominator else math.nan


# -- wrk -----------------------------------------------------------------------------------

_WRK_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


@dataclass(frozen=True, slots=True)
class WrkResult:
    """What one `wrk --latency` run reports (latencies in milliseconds)."""

    requests: int
    seconds: float
    non_2xx: int
    socket_errors: int
    p50_ms: float
    p75_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float

    @property
    def per_second(self) -> float:
        return ratio(self.requests, self.seconds)


def wrk_duration_ms(text: str) -> float:
    """A wrk duration (`812.00us`, `1.25ms`, `2.00s`, `1.02m`) in milliseconds."""
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text.strip())
    if match is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _WRK_UNITS[match.group(2)]


def _search(pattern: str, text: str) -> re.Match[str]:
    match = re.search(pattern, text, re.MULTILINE)
    if match is None:
        raise ValueError(f"unexpected wrk output, no {pattern!r} in:\n{text}")
    return match


def parse_wrk(text: str) -> WrkResult:
    """Parse the report of `wrk --latency`; ValueError when a needed line is missing."""
    requests, seconds = _search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", text).group(1, 2)
    unit = _search(r"\d+ requests in [\d.]+(us|ms|s|m)", text).group(1)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )

    def at(label: str) -> float:
        return wrk_duration_ms(_search(rf"^\s+{label}%\s+(\S+)", text).group(1))

    return WrkResult(
        requests=int(requests),
        seconds=float(seconds) * _WRK_UNITS[unit] / 1000,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in errors.groups()) if errors else 0,
        p50_ms=at("50"),
        p75_ms=at("75"),
        p90_ms=at("90"),
        p99_ms=at("99"),
        mean_ms=wrk_duration_ms(_search(r"^\s+Latency\s+(\S+)", text).group(1)),
    )


# -- Prometheus ----------------------------------------------------------------------------

Sample = tuple[str, frozenset[tuple[str, str]]]

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_prometheus(text: str) -> dict[Sample, float]:
    """Samples of a Prometheus text exposition, by (name, labels)."""
    samples: dict[Sample, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match is None:
            continue
        name, labels, value = match.groups()
        key = frozenset(_LABEL.findall(labels or ""))
        samples[(name, key)] = float(value)
    return samples


def metric_sum(samples: Mapping[Sample, float], name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(
        value for (sample, keys), value in samples.items() if sample == name and wanted <= keys
    )


def metric_by(samples: Mapping[Sample, float], name: str, label: str) -> dict[str, float]:
    """`name`'s samples summed by the value of one label."""
    totals: Counter[str] = Counter()
    for (sample, keys), value in samples.items():
        if sample == name:
            totals[dict(keys).get(label, "")] += value
    return dict(totals)


# -- the simulator's ledger ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeliveryCount:
    """What the providers' ledger says about a set of sent message ids."""

    sent: int
    delivered: int
    """Ids delivered at least once, by any provider."""
    accepted: int
    """Deliveries of those ids, repeats included."""

    @property
    def lost(self) -> int:
        return self.sent - self.delivered

    @property
    def duplicates(self) -> int:
        return self.accepted - self.delivered

    @property
    def delivered_pct(self) -> float:
        return 100 * ratio(self.delivered, self.sent)


def count_deliveries(sent_ids: Iterable[str], ledger_keys: Mapping[str, Any]) -> DeliveryCount:
    """Count `sent_ids` in the `keys` map of `GET /__ledger?scope=all` ({key: {"count": n,
    ...}}) or of one provider ({key: n}). Keys not sent by this run are ignored."""
    sent = delivered = accepted = 0
    for key in sent_ids:
        sent += 1
        entry = ledger_keys.get(key)
        count = int(entry["count"] if isinstance(entry, Mapping) else entry or 0)
        if count:
            delivered += 1
            accepted += count
    return DeliveryCount(sent=sent, delivered=delivered, accepted=accepted)


def ledger_attempts(ledger: Mapping[str, Any]) -> int:
    """Requests that reached the providers (every outcome), from a ledger's `attempts`."""
    return sum(int(n) for n in ledger.get("attempts", {}).values())


# -- over time -----------------------------------------------------------------------------


def bin_by_second(
    events: Iterable[tuple[float, str]], start: float, end: float, width: float = 1.0
) -> tuple[list[float], dict[str, list[int]]]:
    """Count (time, kind) events per `width`-second bin from `start` to `end`:
    the bins' left edges relative to `start`, and a count per kind per bin."""
    bins = max(1, math.ceil((end - start) / width))
    edges = [i * width for i in range(bins)]
    counts: dict[str, list[int]] = {}
    for moment, kind in events:
        index = math.floor((moment - start) / width)
        if 0 <= index < bins:
            counts.setdefault(kind, [0] * bins)[index] += 1
    return edges, counts


def first_after(moments: Iterable[float], after: float) -> float | None:
    """The earliest moment at or after `after`, None when there is none."""
    later = [m for m in moments if m >= after]
    return min(later) if later else None


def status_breakdown(statuses: Iterable[int | str]) -> str:
    """`200: 9 990, 503: 10`, statuses in order."""
    counts = Counter(str(s) for s in statuses)
    return ", ".join(f"{status}: {thousands(n)}" for status, n in sorted(counts.items()))


# -- rendering -----------------------------------------------------------------------------


def thousands(value: float) -> str:
    """A count with a thin space every three digits (`10 000`), as docs/simulator.md writes."""
    return f"{round(value):,}".replace(",", " ")


def fixed(value: float | None, digits: int = 2) -> str:
    """A number with `digits` decimals; an em dash for None or NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{digits}f}"


def markdown_table(
    headers: Sequence[str], rows: Iterable[Sequence[object]], numeric: Sequence[bool] = ()
) -> str:
    """A GitHub markdown table; columns flagged in `numeric` are right-aligned."""
    flags = list(numeric) + [False] * (len(headers) - len(numeric))
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---:" if flag else "---" for flag in flags) + "|",
    ]
    for row in rows:
        cells = [str(cell).replace("|", "\\|") for cell in row]
        if len(cells) != len(headers):
            raise ValueError(f"row has {len(cells)} cells, table has {len(headers)} columns")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"

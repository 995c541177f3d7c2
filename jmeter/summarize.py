#!/usr/bin/env python3
"""Summarise a load test: a JMeter JTL (CSV with a header line) or a locust --json file.

    python3 jmeter/summarize.py results.jtl
    python3 jmeter/summarize.py --locust stats.json

Prints samples, throughput, latency percentiles and the errors split into
expected and unexpected, then ONE closing line that scripts can read:

    SUMMARY jmeter samples=5012 rps=249.1 p50_ms=3 p99_ms=21 unexpected_pct=0.00

Exits 0 when nothing unexpected happened, 1 when something did, 2 when the file
holds no sample or cannot be read.

What counts as expected (JMeter). The plans label each request with the row's
expected status (`sms transparent expect 200`), save the URL, and assert the
status with a ResponseAssertion; a sample is then
- ok: a 2xx where the row expected 200;
- an expected error: a 400 where the row expected 400 (invalid input refused), or
  a 500 on a transparent route (`/api/<type>/provider<i>`) where the row expected
  200: the provider failed the send and the transparent route passes that on;
- unexpected: anything else, including every sample JMeter marked failed (the
  assertion did not match, a timeout, a refused connection), any 5xx on the
  virtual route, and a 500 to a row that expected 400.

Percentiles are nearest-rank over every sample's elapsed time: pN is the smallest
elapsed time with at least N% of the samples at or below it. Throughput is the
sample count over the span from the first sample's start to the last one's end,
as JMeter computes it.

Standard library only, so it runs wherever JMeter runs.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Final, TextIO

REQUIRED_COLUMNS: Final = ("timeStamp", "elapsed", "label", "responseCode", "success")
TRANSPARENT_PATH: Final = re.compile(r"/api/[^/?#]+/provider\d+(?:[?#]|$)")
EXPECT_IN_LABEL: Final = re.compile(r"\bexpect (\d{3})\b")
PERCENTILES: Final = (50, 95, 99)


class Outcome(Enum):
    OK = "ok"
    INVALID_REFUSED = "expected: invalid input refused (400)"
    PROVIDER_FAILURE = "expected: provider failure on a transparent route (500)"
    UNEXPECTED = "unexpected"

    @property
    def expected_error(self) -> bool:
        return self in (Outcome.INVALID_REFUSED, Outcome.PROVIDER_FAILURE)


@dataclass(frozen=True, slots=True)
class Sample:
    """One JTL row, the columns the summary needs."""

    timestamp_ms: int
    elapsed_ms: int
    label: str
    code: str
    success: bool
    url: str = ""
    failure_message: str = ""

    @property
    def transparent(self) -> bool:
        """Sent to a transparent route: the URL (or, without one, the label) says so."""
        if self.url:
            return TRANSPARENT_PATH.search(self.url) is not None
        return re.search(r"\b(transparent|provider\d)\b", self.label) is not None

    @property
    def expected_status(self) -> int | None:
        match = EXPECT_IN_LABEL.search(self.label)
        return int(match.group(1)) if match else None


def classify(sample: Sample) -> Outcome:
    """Where one sample goes in the summary; see the module's doc."""
    if not sample.success or not sample.code.isdigit():
        return Outcome.UNEXPECTED
    code = int(sample.code)
    expected = sample.expected_status
    if expected == 400:
        return Outcome.INVALID_REFUSED if code == 400 else Outcome.UNEXPECTED
    if expected not in (None, 200):
        return Outcome.OK if code == expected else Outcome.UNEXPECTED
    if 200 <= code < 300:
        return Outcome.OK
    if code == 400 and expected is None:
        return Outcome.INVALID_REFUSED  # no label to go by: the assertion accepted it
    if code == 500 and sample.transparent:
        return Outcome.PROVIDER_FAILURE
    return Outcome.UNEXPECTED


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of values sorted ascending; 0 for no values."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass
class Summary:
    tool: str
    samples: int = 0
    span_s: float = 0.0
    latency_ms: dict[int, float] = field(default_factory=dict)
    max_ms: float = 0.0
    mean_ms: float = 0.0
    outcomes: Counter[Outcome] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)
    by_label: dict[str, Counter[Outcome]] = field(default_factory=dict)
    unexpected_reasons: Counter[str] = field(default_factory=Counter)
    # locust reports its own rate; JMeter's is computed from the span
    reported_rps: float | None = None

    @property
    def throughput(self) -> float:
        if self.reported_rps is not None:
            return self.reported_rps
        return self.samples / self.span_s if self.span_s > 0 else 0.0

    @property
    def unexpected(self) -> int:
        return self.outcomes[Outcome.UNEXPECTED]

    @property
    def expected_errors(self) -> int:
        return sum(n for outcome, n in self.outcomes.items() if outcome.expected_error)

    def pct(self, count: int) -> float:
        return 100.0 * count / self.samples if self.samples else 0.0

    @property
    def ok(self) -> bool:
        return self.samples > 0 and self.unexpected == 0

    def summary_line(self) -> str:
        return (
            f"SUMMARY {self.tool} samples={self.samples} rps={self.throughput:.1f} "
            f"p50_ms={_ms(self.latency_ms.get(50, 0))} p99_ms={_ms(self.latency_ms.get(99, 0))} "
            f"unexpected_pct={self.pct(self.unexpected):.2f}"
        )

    def report(self) -> list[str]:
        ok = self.outcomes[Outcome.OK]
        lines = [
            f"samples          {self.samples} over {self.span_s:.1f} s",
            f"throughput       {self.throughput:.1f} req/s",
            "latency          "
            + "  ".join(f"p{p} {_ms(self.latency_ms.get(p, 0))} ms" for p in PERCENTILES)
            + f"  max {_ms(self.max_ms)} ms  mean {self.mean_ms:.1f} ms",
            f"ok               {ok} ({self.pct(ok):.2f}%)",
            f"expected errors  {self.expected_errors} ({self.pct(self.expected_errors):.2f}%)",
        ]
        for outcome in (Outcome.INVALID_REFUSED, Outcome.PROVIDER_FAILURE):
            count = self.outcomes[outcome]
            lines.append(f"  {count:>8} ({self.pct(count):.2f}%) {outcome.value.split(': ', 1)[1]}")
        lines.append(f"unexpected       {self.unexpected} ({self.pct(self.unexpected):.2f}%)")
        for reason, count in self.unexpected_reasons.most_common(5):
            lines.append(f"  {count:>8} {reason}")
        if self.codes:
            codes = ", ".join(f"{code}: {n}" for code, n in sorted(self.codes.items()))
            lines.append(f"status codes     {codes}")
        if self.by_label:
            lines.append("by label")
            for label, outcomes in sorted(self.by_label.items()):
                total = sum(outcomes.values())
                lines.append(
                    f"  {label:<44} {total:>8}  ok {outcomes[Outcome.OK]}  expected "
                    f"{sum(n for o, n in outcomes.items() if o.expected_error)}  unexpected "
                    f"{outcomes[Outcome.UNEXPECTED]}"
                )
        return lines


def _ms(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


# --- JMeter -------------------------------------------------------------------------


def read_jtl(lines: Iterable[str]) -> list[Sample]:
    """Samples of a CSV JTL whose first line names the columns (any order, any extras)."""
    reader = csv.DictReader(lines)
    missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or ())]
    if missing:
        raise ValueError(
            f"JTL lacks column(s) {', '.join(missing)}: write it as CSV with a header "
            "(-Jjmeter.save.saveservice.output_format=csv "
            "-Jjmeter.save.saveservice.print_field_names=true)"
        )
    samples = []
    for row in reader:
        if not row.get("timeStamp"):
            continue
        samples.append(
            Sample(
                timestamp_ms=int(row["timeStamp"]),
                elapsed_ms=int(row["elapsed"]),
                label=row["label"],
                code=row["responseCode"],
                success=row["success"].strip().lower() == "true",
                url=row.get("URL") or "",
                failure_message=row.get("failureMessage") or "",
            )
        )
    return samples


def summarize_samples(samples: Sequence[Sample], tool: str = "jmeter") -> Summary:
    summary = Summary(tool=tool, samples=len(samples))
    if not samples:
        return summary
    start = min(s.timestamp_ms for s in samples)
    end = max(s.timestamp_ms + s.elapsed_ms for s in samples)
    summary.span_s = (end - start) / 1000
    elapsed = sorted(s.elapsed_ms for s in samples)
    summary.latency_ms = {p: percentile(elapsed, p) for p in PERCENTILES}
    summary.max_ms = elapsed[-1]
    summary.mean_ms = sum(elapsed) / len(elapsed)
    for sample in samples:
        outcome = classify(sample)
        summary.outcomes[outcome] += 1
        summary.codes[sample.code] += 1
        summary.by_label.setdefault(sample.label, Counter())[outcome] += 1
        if outcome is Outcome.UNEXPECTED:
            reason = sample.failure_message or "marked failed by JMeter"
            if sample.success:
                reason = "assertion accepted it, but no route should answer this"
            summary.unexpected_reasons[f"{sample.code} {sample.label}: {reason}"] += 1
    return summary


def summarize_jtl(path: Path) -> Summary:
    with path.open(newline="", encoding="utf-8") as handle:
        return summarize_samples(read_jtl(handle))


# --- locust -------------------------------------------------------------------------


def summarize_locust(stats: Sequence[Mapping[str, Any]]) -> Summary:
    """A summary of locust's `--json` output (one entry per request name).

    The locustfile marks expected outcomes (a 400 to an invalid row, a provider's
    500 on a transparent route) as successes and names them `... [expected 400]`
    or `... [provider 500]`, so every failure locust counts is unexpected.
    """
    summary = Summary(tool="locust")
    histogram: Counter[float] = Counter()
    total_time = 0.0
    starts, ends = [], []
    rps = 0.0
    for entry in stats:
        name = str(entry.get("name", ""))
        requests = int(entry.get("num_requests", 0))
        failures = int(entry.get("num_failures", 0))
        summary.samples += requests
        total_time += float(entry.get("total_response_time", 0.0))
        summary.max_ms = max(summary.max_ms, float(entry.get("max_response_time") or 0))
        for rounded, count in (entry.get("response_times") or {}).items():
            histogram[float(rounded)] += int(count)
        if entry.get("start_time") is not None:
            starts.append(float(entry["start_time"]))
        if entry.get("last_request_timestamp") is not None:
            ends.append(float(entry["last_request_timestamp"]))
        outcome = Outcome.OK
        if "[expected 400]" in name:
            outcome = Outcome.INVALID_REFUSED
        elif "[provider 500]" in name:
            outcome = Outcome.PROVIDER_FAILURE
        counts = summary.by_label.setdefault(name, Counter())
        counts[outcome] += requests - failures
        counts[Outcome.UNEXPECTED] += failures
        summary.outcomes[outcome] += requests - failures
        summary.outcomes[Outcome.UNEXPECTED] += failures
        if failures:
            summary.unexpected_reasons[f"{name}: failed"] += failures
    if starts and ends:
        summary.span_s = max(ends) - min(starts)
        rps = summary.samples / summary.span_s if summary.span_s > 0 else 0.0
    summary.reported_rps = rps
    if summary.samples:
        summary.mean_ms = total_time / summary.samples
        values: list[float] = []
        for value in sorted(histogram):
            values.extend([value] * histogram[value])
        summary.latency_ms = {p: percentile(values, p) for p in PERCENTILES}
    return summary


# --- command line -------------------------------------------------------------------


def emit(summary: Summary, source: str, out: TextIO) -> int:
    print(f"{summary.tool} results from {source}", file=out)
    if not summary.samples:
        print("no samples: nothing reached the target, or the run ended before any", file=out)
        print(summary.summary_line(), file=out)
        return 2
    for line in summary.report():
        print(line, file=out)
    print(summary.summary_line(), file=out)
    return 0 if summary.ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", type=Path, help="a CSV JTL, or locust's JSON with --locust")
    parser.add_argument("--locust", action="store_true", help="FILE is locust --json output")
    args = parser.parse_args(argv)
    try:
        if args.locust:
            summary = summarize_locust(json.loads(args.file.read_text(encoding="utf-8")))
        else:
            summary = summarize_jtl(args.file)
    except (OSError, ValueError) as exc:
        print(f"summarize: {args.file}: {exc}", file=sys.stderr)
        return 2
    return emit(summary, str(args.file), sys.stdout)


if __name__ == "__main__":
    sys.exit(main())

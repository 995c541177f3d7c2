"""jmeter/summarize.py: JTL parsing by column name, outcome classes, percentiles, exit codes."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from tests.loadtest.conftest import load_tool

summarize = load_tool("summarize")
Outcome = summarize.Outcome

GW = "http://gw:80"
REFUSED = "Non HTTP response code: java.net.ConnectException"
# Columns in another order than JMeter's, with extras, and a quoted comma: the
# summary must go by the header's names.
JTL = f"""\
label,timeStamp,success,elapsed,responseCode,URL,failureMessage,threadName,Latency
sms transparent expect 200,1000,true,4,200,{GW}/api/sms/provider1,,t1,3
sms transparent expect 200,1004,true,6,500,{GW}/api/sms/provider2,,t1,5
sms transparent expect 400,1010,true,1,400,{GW}/api/sms/provider3,,t1,1
email virtual expect 200,1011,true,8,200,{GW}/api/email,,t2,7
email virtual expect 400,1019,true,2,400,{GW}/api/email,,t2,2
email virtual expect 200,1021,false,3,503,{GW}/api/email,"Test failed: expected /200/, got 503",t2,3
sms virtual expect 200,1024,true,5,502,{GW}/api/sms,,t1,5
sms transparent expect 400,1029,true,2,500,{GW}/api/sms/provider1,,t1,2
sms virtual expect 200,1031,false,2000,{REFUSED},{GW}/api/sms,,t1,0
"""


def _summary(text: str = JTL) -> object:
    return summarize.summarize_samples(summarize.read_jtl(io.StringIO(text)))


def test_reads_columns_by_name() -> None:
    samples = summarize.read_jtl(io.StringIO(JTL))
    assert len(samples) == 9
    first = samples[0]
    assert (first.label, first.timestamp_ms, first.elapsed_ms, first.code, first.success) == (
        "sms transparent expect 200",
        1000,
        4,
        "200",
        True,
    )
    assert samples[5].failure_message == "Test failed: expected /200/, got 503"


@pytest.mark.parametrize(
    ("row", "outcome"),
    [
        (0, Outcome.OK),
        (1, Outcome.PROVIDER_FAILURE),  # 500 on a transparent route: the provider failed
        (2, Outcome.INVALID_REFUSED),  # the asserted 400
        (3, Outcome.OK),
        (4, Outcome.INVALID_REFUSED),
        (5, Outcome.UNEXPECTED),  # JMeter marked it failed (the assertion)
        (6, Outcome.UNEXPECTED),  # a 5xx on the virtual route, even if nothing asserted it
        (7, Outcome.UNEXPECTED),  # an invalid row must get 400, not a provider's 500
        (8, Outcome.UNEXPECTED),  # no HTTP answer at all
    ],
)
def test_classifies_each_sample(row: int, outcome: object) -> None:
    samples = summarize.read_jtl(io.StringIO(JTL))
    assert summarize.classify(samples[row]) is outcome


def test_without_url_column_the_label_tells_the_route() -> None:
    text = (
        "timeStamp,elapsed,label,responseCode,success\n"
        "1,1,email transparent expect 200,500,true\n"
        "2,1,email provider2 expect 200,500,true\n"
        "3,1,email virtual expect 200,500,true\n"
    )
    outcomes = [summarize.classify(s) for s in summarize.read_jtl(io.StringIO(text))]
    assert outcomes == [Outcome.PROVIDER_FAILURE, Outcome.PROVIDER_FAILURE, Outcome.UNEXPECTED]


def test_counts_and_rates() -> None:
    summary = _summary()
    assert summary.samples == 9
    assert summary.outcomes[Outcome.OK] == 2
    assert summary.outcomes[Outcome.INVALID_REFUSED] == 2
    assert summary.outcomes[Outcome.PROVIDER_FAILURE] == 1
    assert summary.unexpected == 4
    assert summary.expected_errors == 3
    # first start 1000 ms, last end 1031 + 2000 ms: 9 samples in 2.031 s
    assert summary.span_s == pytest.approx(2.031)
    assert summary.throughput == pytest.approx(9 / 2.031)
    assert summary.pct(summary.unexpected) == pytest.approx(100 * 4 / 9)


def test_percentiles_are_nearest_rank() -> None:
    values = list(range(1, 101))  # 1..100 ms
    assert [summarize.percentile(values, p) for p in (50, 95, 99, 100)] == [50, 95, 99, 100]
    ten = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    assert [summarize.percentile(ten, p) for p in (50, 90, 95, 99)] == [50, 90, 100, 100]
    assert summarize.percentile([7], 99) == 7
    assert summarize.percentile([], 50) == 0


def test_percentiles_of_a_jtl_ignore_row_order() -> None:
    rows = [
        f"{1000 + i},{elapsed},sms virtual expect 200,200,true"
        for i, elapsed in enumerate([9, 1, 8, 2, 7, 3, 6, 4, 5, 100])
    ]
    summary = _summary("timeStamp,elapsed,label,responseCode,success\n" + "\n".join(rows))
    assert summary.latency_ms == {50: 5, 95: 100, 99: 100}
    assert summary.max_ms == 100
    assert summary.mean_ms == pytest.approx(14.5)


def test_missing_column_is_named() -> None:
    with pytest.raises(ValueError, match="responseCode"):
        summarize.read_jtl(io.StringIO("timeStamp,elapsed,label,success\n1,1,x,true\n"))


def _run(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    path = tmp_path / "results.jtl"
    path.write_text(text, encoding="utf-8")
    code = summarize.main([str(path)])
    return code, capsys.readouterr().out.strip().splitlines()


def test_main_fails_on_unexpected_and_ends_with_one_summary_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines = _run(tmp_path, JTL, capsys)
    assert code == 1
    assert lines[-1] == (
        "SUMMARY jmeter samples=9 rps=4.4 p50_ms=4 p99_ms=2000 unexpected_pct=44.44"
    )
    assert sum(line.startswith("SUMMARY") for line in lines) == 1


def test_main_passes_when_only_expected_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clean = "\n".join(JTL.splitlines()[:6]) + "\n"
    code, lines = _run(tmp_path, clean, capsys)
    assert code == 0
    assert lines[-1].endswith("unexpected_pct=0.00")
    assert any("provider failure on a transparent route" in line for line in lines)


def test_main_reports_no_samples_and_unreadable_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines = _run(tmp_path, "timeStamp,elapsed,label,responseCode,success\n", capsys)
    assert code == 2
    assert lines[-1].startswith("SUMMARY jmeter samples=0 ")
    assert summarize.main([str(tmp_path / "missing.jtl")]) == 2


def test_locust_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def entry(name: str, requests: int, failures: int, times: dict[str, int]) -> dict[str, object]:
        return {
            "name": name,
            "method": "POST",
            "num_requests": requests,
            "num_failures": failures,
            "total_response_time": sum(int(t) * n for t, n in times.items()),
            "max_response_time": max(int(t) for t in times),
            "response_times": times,
            "start_time": 100.0,
            "last_request_timestamp": 110.0,
        }

    stats = [
        entry("sms transparent expect 200", 6, 1, {"2": 3, "4": 3}),
        entry("sms transparent expect 200 [provider 500]", 3, 0, {"3": 3}),
        entry("sms transparent expect 400 [expected 400]", 1, 0, {"50": 1}),
    ]
    path = tmp_path / "locust.json"
    path.write_text(json.dumps(stats), encoding="utf-8")
    summary = summarize.summarize_locust(stats)
    assert summary.samples == 10
    assert summary.outcomes[Outcome.OK] == 5
    assert summary.outcomes[Outcome.PROVIDER_FAILURE] == 3
    assert summary.outcomes[Outcome.INVALID_REFUSED] == 1
    assert summary.unexpected == 1
    assert summary.throughput == pytest.approx(1.0)
    assert summary.latency_ms == {50: 3, 95: 50, 99: 50}
    assert summarize.main(["--locust", str(path)]) == 1
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == "SUMMARY locust samples=10 rps=1.0 p50_ms=3 p99_ms=50 unexpected_pct=10.00"

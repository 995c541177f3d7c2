import math
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.resilience.latency import LatencyWindow

latencies = st.floats(0.0, 10.0)


def test_no_percentile_until_min_samples() -> None:
    window = LatencyWindow(min_samples=20)

    for value in range(19):
        window.add(value / 1000)
    assert window.percentile(0.95) is None
    window.add(0.019)

    assert window.percentile(0.95) is not None


def test_p95_of_one_to_one_hundred_milliseconds() -> None:
    window = LatencyWindow()
    for ms in range(1, 101):
        window.add(ms / 1000)

    assert window.percentile(0.95) == pytest.approx(0.09505)
    assert window.percentile(0.5) == pytest.approx(0.0505)
    assert window.percentile(0.0) == pytest.approx(0.001)
    assert window.percentile(1.0) == pytest.approx(0.100)


def test_keeps_only_the_most_recent_samples() -> None:
    window = LatencyWindow(size=10, min_samples=10)

    for ms in range(1, 1001):
        window.add(float(ms))

    assert len(window) == 10
    assert window.percentile(0.0) == 991.0
    assert window.percentile(1.0) == 1000.0


def test_a_new_sample_changes_the_answer_at_once() -> None:
    window = LatencyWindow(size=100, min_samples=1)
    for _ in range(100):
        window.add(0.010)
    assert window.percentile(0.95) == pytest.approx(0.010)

    for _ in range(10):
        window.add(0.500)

    assert window.percentile(0.95) == pytest.approx(0.500)


def test_clear_forgets_every_sample() -> None:
    window = LatencyWindow(min_samples=1)
    window.add(0.1)

    window.clear()

    assert len(window) == 0
    assert window.percentile(0.5) is None


@given(samples=st.lists(latencies, min_size=2, max_size=300), size=st.integers(2, 64))
def test_percentiles_match_the_statistics_module_over_the_last_size_samples(
    samples: list[float], size: int
) -> None:
    window = LatencyWindow(size=size, min_samples=1)
    for sample in samples:
        window.add(sample)
    recent = samples[-size:]
    if len(recent) < 2:
        return
    # statistics' "inclusive" method interpolates between ranks as the window does.
    expected = statistics.quantiles(recent, n=20, method="inclusive")

    for index, quantile in enumerate(expected, start=1):
        assert window.percentile(index / 20) == pytest.approx(quantile, abs=1e-9)


@given(
    samples=st.lists(latencies, min_size=1, max_size=100), q1=st.floats(0, 1), q2=st.floats(0, 1)
)
def test_percentiles_stay_within_the_samples_and_grow_with_q(
    samples: list[float], q1: float, q2: float
) -> None:
    window = LatencyWindow(size=100, min_samples=1)
    for sample in samples:
        window.add(sample)
    low, high = sorted((q1, q2))

    p_low, p_high = window.percentile(low), window.percentile(high)

    assert p_low is not None
    assert p_high is not None
    assert min(samples) <= p_low <= p_high <= max(samples)


@pytest.mark.parametrize("q", [95, -0.1, 1.01, math.nan])
def test_q_is_a_fraction(q: float) -> None:
    window = LatencyWindow(min_samples=1)
    window.add(0.1)

    with pytest.raises(ValueError, match=r"0\.95 for p95"):
        window.percentile(q)


@pytest.mark.parametrize("latency", [-0.001, math.nan, math.inf])
def test_rejects_latencies_that_cannot_be_real(latency: float) -> None:
    with pytest.raises(ValueError, match="latency_s"):
        LatencyWindow().add(latency)


@pytest.mark.parametrize(
    ("kwargs", "arg"),
    [({"size": 0}, "size"), ({"min_samples": 0}, "min_samples"), ({"size": 5}, "min_samples")],
)
def test_rejects_bad_sizes_naming_the_argument(kwargs: dict[str, int], arg: str) -> None:
    with pytest.raises(ValueError, match=arg):
        LatencyWindow(**kwargs)

import math
import random
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.resilience.backoff import BACKOFF_STRATEGIES, Backoff, retry_after_s

strategies_ = st.sampled_from(BACKOFF_STRATEGIES)
seconds = st.floats(0.0, 10.0)


@st.composite
def backoffs(draw: st.DrawFn) -> Backoff:
    base = draw(seconds)
    cap = draw(st.floats(base, base + 30.0))
    return Backoff(
        strategy=draw(strategies_),
        base_s=base,
        cap_s=cap,
        multiplier=draw(st.floats(1.0, 10.0)),
    )


@given(
    backoff=backoffs(),
    retry_number=st.integers(1, 5000),
    previous=st.none() | st.floats(0.0, 100.0),
    seed=st.integers(0, 2**32),
)
def test_every_delay_lies_within_zero_and_the_cap(
    backoff: Backoff, retry_number: int, previous: float | None, seed: int
) -> None:
    delay = backoff.delay(retry_number, previous, random.Random(seed))

    assert 0.0 <= delay <= backoff.cap_s


@given(backoff=backoffs(), retry_number=st.integers(1, 60), seed=st.integers(0, 2**32))
def test_full_jitter_stays_below_the_exponential_ceiling(
    backoff: Backoff, retry_number: int, seed: int
) -> None:
    jittered = Backoff("full_jitter", backoff.base_s, backoff.cap_s, backoff.multiplier)
    ceiling = Backoff("exponential", backoff.base_s, backoff.cap_s, backoff.multiplier)

    delay = jittered.delay(retry_number, None, random.Random(seed))

    assert delay <= ceiling.delay(retry_number, None, random.Random(seed))


@given(backoff=backoffs(), previous=st.none() | st.floats(0.0, 100.0), seed=st.integers(0, 2**32))
def test_decorrelated_jitter_stays_between_base_and_three_times_the_previous_delay(
    backoff: Backoff, previous: float | None, seed: int
) -> None:
    decorrelated = Backoff("decorrelated_jitter", backoff.base_s, backoff.cap_s)
    floor = decorrelated.base_s if previous is None else max(decorrelated.base_s, previous)

    delay = decorrelated.delay(3, previous, random.Random(seed))

    assert decorrelated.base_s <= delay <= min(decorrelated.cap_s, 3 * floor)


def test_exponential_doubles_from_base_until_the_cap() -> None:
    backoff = Backoff("exponential", base_s=0.025, cap_s=0.25, multiplier=2.0)
    rng = random.Random(0)

    delays = [backoff.delay(n, None, rng) for n in range(1, 7)]

    assert delays == pytest.approx([0.025, 0.05, 0.1, 0.2, 0.25, 0.25])


def test_constant_always_waits_base() -> None:
    backoff = Backoff("constant", base_s=0.1, cap_s=1.0)
    rng = random.Random(0)

    assert {backoff.delay(n, 0.7, rng) for n in range(1, 20)} == {0.1}


def test_full_jitter_spreads_delays_over_the_whole_range() -> None:
    """Jitter exists to de-synchronise clients: draws must cover [0, ceiling] evenly."""
    backoff = Backoff("full_jitter", base_s=0.025, cap_s=0.25)  # ceiling at retry 3: 0.1
    rng = random.Random(42)

    delays = [backoff.delay(3, None, rng) for _ in range(5000)]

    assert min(delays) < 0.005
    assert max(delays) > 0.095
    assert sum(delays) / len(delays) == pytest.approx(0.05, rel=0.05)


def test_decorrelated_jitter_grows_from_the_previous_delay() -> None:
    backoff = Backoff("decorrelated_jitter", base_s=0.01, cap_s=10.0)
    rng = random.Random(7)
    previous = None
    delays = []
    for n in range(1, 30):
        previous = backoff.delay(n, previous, rng)
        delays.append(previous)

    assert sum(delays[-10:]) > 10 * sum(delays[:3])  # the mean grows by about 2x a step


def test_decorrelated_jitter_treats_a_previous_delay_below_base_as_base() -> None:
    backoff = Backoff("decorrelated_jitter", base_s=0.1, cap_s=1.0)
    rng = random.Random(3)

    delays = [backoff.delay(2, 0.0, rng) for _ in range(200)]

    assert all(0.1 <= delay <= 0.3 for delay in delays)


def test_a_huge_retry_number_gives_the_cap_instead_of_overflowing() -> None:
    backoff = Backoff("exponential", base_s=0.025, cap_s=0.25, multiplier=10.0)

    assert backoff.delay(10_000, None, random.Random(0)) == 0.25


def test_retry_number_starts_at_one() -> None:
    with pytest.raises(ValueError, match="retry_number"):
        Backoff().delay(0, None, random.Random(0))


@pytest.mark.parametrize(
    ("kwargs", "arg"),
    [
        ({"strategy": "linear"}, "strategy"),
        ({"base_s": -0.1}, "base_s"),
        ({"base_s": math.nan}, "base_s"),
        ({"base_s": 0.5, "cap_s": 0.25}, "cap_s"),
        ({"cap_s": math.inf}, "cap_s"),
        ({"multiplier": 0.5}, "multiplier"),
    ],
)
def test_rejects_bad_settings_naming_the_argument(kwargs: dict[str, object], arg: str) -> None:
    with pytest.raises(ValueError, match=arg):
        Backoff(**kwargs)  # type: ignore[arg-type]  # deliberately wrong values


NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", 120.0),
        (" 3 ", 3.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("Sat, 01 Mar 2025 12:00:30 GMT", 30.0),
        ("Saturday, 01-Mar-25 12:00:30 GMT", 30.0),
        ("Sat Mar  1 12:00:30 2025", 30.0),
        ("Sat, 01 Mar 2025 11:59:00 GMT", 0.0),
    ],
)
def test_retry_after_reads_delta_seconds_and_http_dates(header: str, expected: float) -> None:
    assert retry_after_s(header, NOW) == pytest.approx(expected)


@pytest.mark.parametrize("header", [None, "", "soon", "-5", "1e3", "inf", "nan", "5 s", "0x10"])
def test_retry_after_is_none_when_absent_or_unreadable(header: str | None) -> None:
    assert retry_after_s(header, NOW) is None


@given(delay=st.integers(0, 10**6))
def test_retry_after_round_trips_an_http_date(delay: int) -> None:
    header = format_datetime(datetime.fromtimestamp(NOW + delay, tz=UTC), usegmt=True)

    assert retry_after_s(header, NOW) == pytest.approx(delay)


@given(header=st.text(max_size=40), now=st.floats(0, 4e9))
def test_retry_after_is_never_negative(header: str, now: float) -> None:
    result = retry_after_s(header, now)

    assert result is None or result >= 0

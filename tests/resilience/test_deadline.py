import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.resilience.clock import FakeClock
from gateway.resilience.deadline import Deadline, parse_timeout_header


def test_remaining_counts_down_with_the_clock_and_stops_at_zero() -> None:
    clock = FakeClock(start=50.0)
    deadline = Deadline(2.0, clock)

    assert deadline.remaining() == 2.0
    clock.advance(1.5)
    assert deadline.remaining() == pytest.approx(0.5)
    clock.advance(10.0)
    assert deadline.remaining() == 0.0


def test_expired_once_no_time_remains() -> None:
    clock = FakeClock()
    deadline = Deadline(1.0, clock)

    clock.advance(0.999)
    assert not deadline.expired()
    clock.advance(0.001)
    assert deadline.expired()


def test_clamp_cuts_a_try_timeout_down_to_what_remains() -> None:
    clock = FakeClock()
    deadline = Deadline(3.0, clock)

    assert deadline.clamp(2.0) == 2.0
    clock.advance(2.5)
    assert deadline.clamp(2.0) == pytest.approx(0.5)
    clock.advance(1.0)
    assert deadline.clamp(2.0) == 0.0


@pytest.mark.parametrize(
    ("delay_s", "min_try_s", "expected"),
    [
        (0.5, 0.0, True),
        (0.999, 0.0, True),
        (1.0, 0.0, False),  # ends exactly at the deadline: no time left to try
        (1.5, 0.0, False),  # ends past the deadline
        (0.5, 0.4, True),
        (0.5, 0.5, True),
        (0.5, 0.6, False),  # the next try would get less than it needs
    ],
)
def test_can_wait_only_when_a_useful_try_still_fits_after_the_sleep(
    delay_s: float, min_try_s: float, expected: bool
) -> None:
    deadline = Deadline(1.0, FakeClock())

    assert deadline.can_wait(delay_s, min_try_s) is expected


def test_header_value_is_whole_remaining_milliseconds_rounded_down() -> None:
    clock = FakeClock()
    deadline = Deadline(1.5, clock)
    assert deadline.header_value() == "1500"

    clock.advance(0.2345678)
    assert deadline.header_value() == "1265"
    clock.advance(5.0)
    assert deadline.header_value() == "0"


@pytest.mark.parametrize("timeout_s", [-1.0, math.nan, math.inf])
def test_deadline_rejects_a_timeout_that_is_not_a_finite_duration(timeout_s: float) -> None:
    with pytest.raises(ValueError, match="timeout_s"):
        Deadline(timeout_s, FakeClock())


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("1500", 1.5),
        ("1500ms", 1.5),
        ("1.5s", 1.5),
        ("2s", 2.0),
        (" 250 MS ", 0.25),
        ("0.5", 0.0005),
        (".5s", 0.5),
    ],
)
def test_parse_timeout_reads_milliseconds_or_a_unit_suffix(header: str, seconds: float) -> None:
    assert parse_timeout_header(header) == pytest.approx(seconds)


@pytest.mark.parametrize("header", [None, "", "   "])
def test_parse_timeout_is_none_when_the_header_is_absent_or_empty(header: str | None) -> None:
    assert parse_timeout_header(header) is None


@pytest.mark.parametrize("header", ["abc", "1.5h", "-5", "1e3", "inf", "nan", "1,5s", "s", "5 5"])
def test_parse_timeout_refuses_garbage_with_a_message_showing_the_accepted_forms(
    header: str,
) -> None:
    with pytest.raises(ValueError, match=r"X-Request-Timeout must be a duration such as 1500"):
        parse_timeout_header(header)


@pytest.mark.parametrize("header", ["0", "0ms", "0.0s", "000"])
def test_parse_timeout_refuses_zero(header: str) -> None:
    with pytest.raises(ValueError, match="greater than zero"):
        parse_timeout_header(header)


def test_parse_timeout_refuses_a_number_too_large_to_represent() -> None:
    with pytest.raises(ValueError, match="too large"):
        parse_timeout_header("9" * 400)


@given(milliseconds=st.integers(1, 10**9))
def test_parse_timeout_plain_number_and_ms_suffix_mean_the_same(milliseconds: int) -> None:
    plain = parse_timeout_header(str(milliseconds))

    assert plain == parse_timeout_header(f"{milliseconds}ms") == milliseconds / 1000


@given(timeout_s=st.floats(0.001, 1000), elapsed=st.lists(st.floats(0, 5), max_size=20))
def test_remaining_never_negative_and_never_grows(timeout_s: float, elapsed: list[float]) -> None:
    clock = FakeClock()
    deadline = Deadline(timeout_s, clock)
    previous = deadline.remaining()
    for step in elapsed:
        clock.advance(step)
        now = deadline.remaining()
        assert 0.0 <= now <= previous
        assert int(deadline.header_value()) <= now * 1000
        previous = now

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.resilience.breaker import (
    BreakerSettings,
    BreakerState,
    CircuitBreaker,
    Outcome,
    Permit,
)
from gateway.resilience.clock import FakeClock

# Only the run of failures can trip: the ratio needs more calls than these tests make.
RUN_ONLY = BreakerSettings(consecutive_failures=5, min_calls=1000, open_s=5.0)
# Only the ratio can trip.
RATIO_ONLY = BreakerSettings(
    consecutive_failures=1000, failure_ratio=0.5, window_s=10.0, min_calls=20, open_s=5.0
)


def state(breaker: CircuitBreaker) -> BreakerState:
    """The state, read through a call so that mypy does not narrow it between two reads."""
    return breaker.state


def call(breaker: CircuitBreaker, outcome: Outcome) -> None:
    permit = breaker.acquire()
    assert permit is not None, "the breaker refused a call the test expected to go through"
    breaker.record(permit, outcome)


def trip(breaker: CircuitBreaker) -> None:
    while state(breaker) is BreakerState.CLOSED:
        call(breaker, "failure")


def test_a_new_breaker_is_closed_and_hands_out_ordinary_permits() -> None:
    breaker = CircuitBreaker(RUN_ONLY, clock=FakeClock())

    permit = breaker.acquire()

    assert state(breaker) is BreakerState.CLOSED
    assert permit is not None
    assert not permit.is_probe
    assert breaker.available()
    assert breaker.retry_after_s() == 0.0


def test_trips_after_the_configured_number_of_failures_in_a_row() -> None:
    breaker = CircuitBreaker(RUN_ONLY, clock=FakeClock())

    for _ in range(4):
        call(breaker, "failure")
    assert state(breaker) is BreakerState.CLOSED
    call(breaker, "failure")

    assert state(breaker) is BreakerState.OPEN


def test_a_success_breaks_the_run_of_failures() -> None:
    breaker = CircuitBreaker(RUN_ONLY, clock=FakeClock())

    for _ in range(10):
        for _ in range(4):
            call(breaker, "failure")
        call(breaker, "success")

    assert state(breaker) is BreakerState.CLOSED


def test_trips_when_the_failure_ratio_is_reached_over_enough_calls() -> None:
    breaker = CircuitBreaker(RATIO_ONLY, clock=FakeClock())

    for _ in range(9):
        call(breaker, "failure")
        call(breaker, "success")
    call(breaker, "failure")  # 19 calls, 10 failures: ratio above 0.5 but too few calls
    assert state(breaker) is BreakerState.CLOSED
    call(breaker, "failure")  # 20 calls, 11 failures

    assert state(breaker) is BreakerState.OPEN


def test_a_failure_ratio_below_the_threshold_never_trips() -> None:
    breaker = CircuitBreaker(RATIO_ONLY, clock=FakeClock())

    for _ in range(100):  # 40% failures, never many in a row
        for outcome in ("failure", "success", "failure", "success", "success"):
            call(breaker, outcome)

    assert state(breaker) is BreakerState.CLOSED
    assert breaker.failure_score() == pytest.approx(0.4)


def test_failures_older_than_the_window_no_longer_count() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(RATIO_ONLY, clock=clock)
    for _ in range(9):
        call(breaker, "failure")
        call(breaker, "success")
    call(breaker, "success")  # 19 calls, 9 failures

    clock.advance(RATIO_ONLY.window_s + 0.001)
    call(breaker, "failure")  # would make 20 calls and 10 failures inside one window

    assert state(breaker) is BreakerState.CLOSED
    assert breaker.failure_score() == 1.0  # the one failure is all the window holds


def test_an_open_breaker_refuses_and_says_how_long_for() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(RUN_ONLY, clock=clock)
    trip(breaker)

    assert breaker.acquire() is None
    assert not breaker.available()
    assert breaker.retry_after_s() == pytest.approx(5.0)
    clock.advance(2.0)
    assert breaker.retry_after_s() == pytest.approx(3.0)


def test_becomes_half_open_once_open_s_has_elapsed() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(RUN_ONLY, clock=clock)
    trip(breaker)

    clock.advance(4.999)
    assert state(breaker) is BreakerState.OPEN
    clock.advance(0.001)

    assert state(breaker) is BreakerState.HALF_OPEN
    assert breaker.available()
    assert breaker.retry_after_s() == 0.0


def test_half_open_lets_only_one_probe_through_at_a_time() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(RUN_ONLY, clock=clock)
    trip(breaker)
    clock.advance(5.0)

    probe = breaker.acquire()

    assert probe is not None
    assert probe.is_probe
    assert breaker.acquire() is None
    assert not breaker.available()
    assert breaker.retry_after_s() > 0


def test_half_open_probes_setting_allows_that_many_concurrent_probes() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(
        BreakerSettings(consecutive_failures=1, half_open_probes=3, open_s=1.0), clock=clock
    )
    trip(breaker)
    clock.advance(1.0)

    permits = [breaker.acquire() for _ in range(5)]

    assert [permit is not None for permit in permits] == [True, True, True, False, False]


def test_a_successful_probe_closes_the_circuit_and_starts_counting_afresh() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(RUN_ONLY, clock=clock)
    trip(breaker)
    clock.advance(5.0)

    call(breaker, "success")

    assert state(breaker) is BreakerState.CLOSED
    assert breaker.failure_score() == 0.0
    for _ in range(4):  # the old run of failures is forgotten: it takes 5 new ones
        call(breaker, "failure")
    assert state(breaker) is BreakerState.CLOSED


def test_a_failed_probe_reopens_the_circuit_for_another_open_s() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(RUN_ONLY, clock=clock)
    trip(breaker)
    clock.advance(7.0)

    call(breaker, "failure")

    assert state(breaker) is BreakerState.OPEN
    assert breaker.retry_after_s() == pytest.approx(5.0)
    clock.advance(4.9)
    assert breaker.acquire() is None


def test_a_cancelled_probe_frees_its_slot_without_deciding_anything() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(RUN_ONLY, clock=clock)
    trip(breaker)
    clock.advance(5.0)
    probe = breaker.acquire()
    assert probe is not None

    breaker.record(probe, "cancelled")

    assert state(breaker) is BreakerState.HALF_OPEN
    next_probe = breaker.acquire()
    assert next_probe is not None
    assert next_probe.is_probe


def test_cancelled_calls_count_as_neither_success_nor_failure() -> None:
    breaker = CircuitBreaker(RUN_ONLY, clock=FakeClock())

    for _ in range(4):
        call(breaker, "failure")
    for _ in range(100):
        call(breaker, "cancelled")  # does not break the run, does not extend it
    assert state(breaker) is BreakerState.CLOSED
    assert breaker.failure_score() == 1.0  # 4 calls, 4 failures: the cancels are not calls
    call(breaker, "failure")

    assert state(breaker) is BreakerState.OPEN


def test_recording_the_same_permit_twice_counts_once() -> None:
    breaker = CircuitBreaker(RUN_ONLY, clock=FakeClock())
    permit = breaker.acquire()
    assert permit is not None

    for _ in range(10):
        breaker.record(permit, "failure")

    assert state(breaker) is BreakerState.CLOSED


def test_recording_a_probe_twice_frees_only_its_own_slot() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(
        BreakerSettings(consecutive_failures=1, half_open_probes=2, open_s=1.0), clock=clock
    )
    trip(breaker)
    clock.advance(1.0)
    first, second = breaker.acquire(), breaker.acquire()
    assert first is not None
    assert second is not None

    breaker.record(first, "cancelled")
    breaker.record(first, "cancelled")

    assert breaker.acquire() is not None
    assert breaker.acquire() is None


def test_a_late_answer_from_before_a_transition_moves_nothing() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(RUN_ONLY, clock=clock)
    slow_call = breaker.acquire()
    assert slow_call is not None
    trip(breaker)
    clock.advance(5.0)
    assert state(breaker) is BreakerState.HALF_OPEN

    breaker.record(slow_call, "success")  # sent while closed, answered while half-open

    assert state(breaker) is BreakerState.HALF_OPEN


def test_a_permit_from_another_breaker_is_refused() -> None:
    mine, theirs = CircuitBreaker(clock=FakeClock()), CircuitBreaker(clock=FakeClock())
    permit = theirs.acquire()
    assert permit is not None

    with pytest.raises(ValueError, match="another breaker"):
        mine.record(permit, "success")


def test_an_unknown_outcome_is_refused() -> None:
    breaker = CircuitBreaker(clock=FakeClock())
    permit = breaker.acquire()
    assert permit is not None

    with pytest.raises(ValueError, match="outcome"):
        breaker.record(permit, "timeout")  # type: ignore[arg-type]  # deliberately wrong


def test_on_transition_reports_every_state_change_in_order() -> None:
    clock = FakeClock()
    seen: list[tuple[BreakerState, BreakerState]] = []
    breaker = CircuitBreaker(RUN_ONLY, clock=clock, on_transition=lambda *move: seen.append(move))

    trip(breaker)
    clock.advance(5.0)
    call(breaker, "failure")
    clock.advance(5.0)
    call(breaker, "success")

    closed, open_, half_open = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN
    assert seen == [
        (closed, open_),
        (open_, half_open),
        (half_open, open_),
        (open_, half_open),
        (half_open, closed),
    ]


def test_failure_score_is_the_failed_share_of_recent_calls() -> None:
    breaker = CircuitBreaker(RATIO_ONLY, clock=FakeClock())

    assert breaker.failure_score() == 0.0
    for outcome in ("failure", "success", "success", "success"):
        call(breaker, outcome)

    assert breaker.failure_score() == pytest.approx(0.25)


def test_failure_score_of_an_open_breaker_with_an_empty_window_is_the_worst() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(
        BreakerSettings(consecutive_failures=2, window_s=1.0, open_s=60.0), clock=clock
    )
    trip(breaker)

    clock.advance(2.0)  # the failures have left the window, the breaker is still open

    assert state(breaker) is BreakerState.OPEN
    assert breaker.failure_score() == 1.0


@pytest.mark.parametrize(
    ("kwargs", "arg"),
    [
        ({"consecutive_failures": 0}, "consecutive_failures"),
        ({"failure_ratio": 0.0}, "failure_ratio"),
        ({"failure_ratio": 1.5}, "failure_ratio"),
        ({"failure_ratio": math.nan}, "failure_ratio"),
        ({"window_s": 0.0}, "window_s"),
        ({"min_calls": 0}, "min_calls"),
        ({"open_s": -1.0}, "open_s"),
        ({"open_s": math.inf}, "open_s"),
        ({"half_open_probes": 0}, "half_open_probes"),
    ],
)
def test_settings_reject_bad_values_naming_the_field(kwargs: dict[str, float], arg: str) -> None:
    with pytest.raises(ValueError, match=arg):
        BreakerSettings(**kwargs)  # type: ignore[arg-type]  # deliberately wrong values


operations = st.lists(
    st.one_of(
        st.just(("acquire", None)),
        st.tuples(st.just("record"), st.sampled_from(["success", "failure", "cancelled"])),
        st.tuples(st.just("advance"), st.floats(0.0, 3.0)),
    ),
    max_size=80,
)


@given(ops=operations, probes=st.integers(1, 3))
def test_never_more_probes_in_flight_than_allowed_and_available_predicts_acquire(
    ops: list[tuple[str, object]], probes: int
) -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(
        BreakerSettings(consecutive_failures=2, min_calls=4, open_s=2.0, half_open_probes=probes),
        clock=clock,
    )
    outstanding: list[Permit] = []
    for op, arg in ops:
        if op == "acquire":
            expected = breaker.available()
            permit = breaker.acquire()
            assert (permit is not None) == expected
            if permit is not None:
                outstanding.append(permit)
        elif op == "record" and outstanding:
            breaker.record(outstanding.pop(0), arg)  # type: ignore[arg-type]
        elif op == "advance":
            clock.advance(arg)  # type: ignore[arg-type]
        live_probes = [
            p for p in outstanding if p.is_probe and p._generation == breaker._generation
        ]
        assert len(live_probes) <= probes
        assert 0.0 <= breaker.failure_score() <= 1.0
        assert breaker.retry_after_s() >= 0.0
        assert (breaker.retry_after_s() == 0.0) == breaker.available()

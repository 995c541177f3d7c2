import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.resilience.clock import FakeClock
from gateway.resilience.window import RollingCount


def test_counts_events_within_the_window() -> None:
    clock = FakeClock()
    count = RollingCount(10.0, clock=clock)

    count.add()
    clock.advance(3.0)
    count.add(2)

    assert count.total() == 3


def test_forgets_a_bucket_once_the_window_has_moved_past_it() -> None:
    clock = FakeClock()
    count = RollingCount(10.0, buckets=10, clock=clock)
    count.add()  # bucket [0, 1)
    clock.advance(5.0)
    count.add()  # bucket [5, 6)

    clock.advance(4.9)  # t = 9.9: both still inside
    assert count.total() == 2
    clock.advance(0.1)  # t = 10.0: the first bucket is dropped whole
    assert count.total() == 1
    clock.advance(5.0)  # t = 15.0: so is the second
    assert count.total() == 0


def test_a_jump_longer_than_the_window_clears_everything() -> None:
    clock = FakeClock()
    count = RollingCount(1.0, clock=clock)
    count.add(50)

    clock.advance(1000.0)

    assert count.total() == 0
    count.add()
    assert count.total() == 1


def test_clear_forgets_all_events() -> None:
    count = RollingCount(1.0, clock=FakeClock())
    count.add(7)

    count.clear()

    assert count.total() == 0


@pytest.mark.parametrize(
    ("window_s", "buckets", "arg"), [(0.0, 10, "window_s"), (1.0, 0, "buckets")]
)
def test_rejects_bad_arguments_by_name(window_s: float, buckets: int, arg: str) -> None:
    with pytest.raises(ValueError, match=arg):
        RollingCount(window_s, buckets=buckets, clock=FakeClock())


@given(steps=st.lists(st.tuples(st.integers(0, 30), st.integers(0, 3)), max_size=60))
def test_total_matches_a_brute_force_count_of_live_buckets(steps: list[tuple[int, int]]) -> None:
    """An event in bucket b is live at bucket n while n - b < buckets."""
    clock = FakeClock()
    count = RollingCount(1.0, buckets=4, clock=clock)  # 0.25 s buckets
    events: list[int] = []  # bucket number of every event
    for quarter_steps, amount in steps:
        clock.advance(quarter_steps * 0.25 / 3)
        count.add(amount)
        now_bucket = math.floor(clock() / 0.25)
        events.extend([now_bucket] * amount)
        expected = sum(1 for bucket in events if now_bucket - bucket < 4)
        assert count.total() == expected

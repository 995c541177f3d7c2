import math

import pytest

from gateway.resilience.clock import FakeClock


def test_fake_clock_reads_the_same_until_advanced() -> None:
    clock = FakeClock(start=100.0)

    assert clock() == clock.now == 100.0
    clock.advance(0.25)
    assert clock() == clock.now == 100.25


def test_fake_clock_advances_accumulate() -> None:
    clock = FakeClock()

    for _ in range(4):
        clock.advance(0.5)

    assert clock() == 2.0


@pytest.mark.parametrize("seconds", [-0.001, math.nan, math.inf])
def test_fake_clock_refuses_to_go_back_or_jump_to_infinity(seconds: float) -> None:
    clock = FakeClock()

    with pytest.raises(ValueError, match="seconds"):
        clock.advance(seconds)
    assert clock() == 0.0

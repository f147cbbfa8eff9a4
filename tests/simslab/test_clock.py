"""The virtual clock: long waits cost no wall time, concurrent waits keep their order."""

from __future__ import annotations

import asyncio
import time

import pytest

from simslab.clock import ManualClock, VirtualClock

SIX_WEEKS_S = 6 * 7 * 86400.0


def run(clock: VirtualClock, coro):
    return clock.loop.run_until_complete(coro)


def test_six_weeks_of_sleep_take_no_wall_time():
    clock = VirtualClock(start_time=1e9)
    wall = time.monotonic()
    run(clock, asyncio.sleep(SIX_WEEKS_S))
    assert clock.now() == pytest.approx(1e9 + SIX_WEEKS_S, abs=1e-3)
    assert time.monotonic() - wall < 1.0  # generous: the jump itself is microseconds


def test_concurrent_waits_wake_in_virtual_time_order():
    clock = VirtualClock(start_time=0.0)
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float):
        await asyncio.sleep(seconds)
        woke.append((name, clock.now()))

    async def both():
        await asyncio.gather(sleeper("hour", 3600.0), sleeper("minute", 60.0), sleeper("day", 86400.0))

    run(clock, both())
    assert [n for n, _ in woke] == ["minute", "hour", "day"]
    assert [t for _, t in woke] == pytest.approx([60.0, 3600.0, 86400.0], abs=1e-6)


def test_real_work_in_an_executor_holds_virtual_time():
    clock = VirtualClock(start_time=0.0)

    async def work_beside_a_timer():
        timer = asyncio.ensure_future(asyncio.sleep(3600.0))
        await clock.loop.run_in_executor(None, time.sleep, 0.05)
        elapsed = clock.now()
        timer.cancel()
        return elapsed

    # while the blocking call runs the loop may not jump to the timer an hour away
    assert run(clock, work_beside_a_timer()) < 1.0


def test_no_jumps_when_not_allowed_time_runs_at_wall_pace():
    clock = VirtualClock(start_time=0.0)
    clock.loop.may_jump = lambda: False
    wall = time.monotonic()
    run(clock, asyncio.sleep(0.2))
    assert time.monotonic() - wall >= 0.19
    assert clock.now() == pytest.approx(0.2, abs=0.1)


def test_manual_clock_refuses_to_run_backwards():
    clock = ManualClock(10.0)
    clock.advance(5.0)
    assert clock.now() == 15.0
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1.0)

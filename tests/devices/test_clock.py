"""Virtual time without a broker: timers in order, instant jumps, sim-time timeouts."""

from __future__ import annotations

import asyncio
import functools

import pytest

from hyperhome.devices.clock import RealtimeClock, VirtualClock, iso, parse_time
from hyperhome.errors import ClockError

START = parse_time("2026-07-01T17:00:00Z")


async def test_virtual_hours_pass_instantly_and_in_order() -> None:
    seen: list[tuple[str, float]] = []
    async with VirtualClock(START) as clock:

        async def sleeper(name: str, seconds: float) -> None:
            await clock.sleep(seconds)
            seen.append((name, clock.now() - START))

        loop = asyncio.get_running_loop()
        wall = loop.time()
        await asyncio.gather(sleeper("hour", 3600), sleeper("minute", 60), sleeper("day", 86400))
        assert loop.time() - wall < 1.0
    assert seen == [("minute", 60), ("hour", 3600), ("day", 86400)]


async def test_same_instant_timers_fire_in_scheduling_order() -> None:
    order: list[int] = []
    async with VirtualClock(START) as clock:
        for i in range(5):
            clock.call_later(10, functools.partial(order.append, i))
        await clock.sleep(11)
    assert order == [0, 1, 2, 3, 4]


async def test_timeout_in_simulated_time() -> None:
    async with VirtualClock(START) as clock:
        with pytest.raises(TimeoutError):
            async with clock.timeout(30):
                await clock.sleep(60)
        assert clock.now() - START == 30
        async with clock.timeout(30):
            await clock.sleep(10)
        await clock.sleep(100)  # the cancelled timeout must not fire later
        assert clock.now() - START == 140


async def test_cancelled_timer_does_not_fire() -> None:
    fired: list[str] = []
    async with VirtualClock(START) as clock:
        handle = clock.call_later(5, lambda: fired.append("no"))
        handle.cancel()
        await clock.sleep(10)
    assert fired == []


async def test_scaled_clock_runs_fast() -> None:
    async with RealtimeClock(speed=1000, start=START) as clock:
        loop = asyncio.get_running_loop()
        wall = loop.time()
        await clock.sleep(60)  # 60 simulated seconds = 60 ms
        assert 0.04 < loop.time() - wall < 1.0
        assert clock.now() - START >= 60
    assert clock.mode == "scaled"


def test_bad_speed_and_unstarted_clock() -> None:
    with pytest.raises(ClockError):
        RealtimeClock(speed=0)
    with pytest.raises(ClockError):
        RealtimeClock().now()


def test_iso_round_trip() -> None:
    assert iso(START) == "2026-07-01T17:00:00.000Z"
    assert parse_time(iso(START + 1.5)) == START + 1.5


class _BrokenBarrier:
    """A quiescer whose proof of quiet fails, as a barrier round that times out would."""

    activity = 0

    def attach(self, wake: object) -> None:
        pass

    async def quiesce(self) -> None:
        msg = "barrier round 7 timed out waiting for ['phone']"
        raise ClockError(msg)


async def test_a_failing_clock_raises_in_every_waiter_instead_of_hanging() -> None:
    clock = VirtualClock(START)
    async with clock:
        await clock.sleep(1)
        clock.add_barrier(_BrokenBarrier())

        async def bounded() -> None:
            async with clock.timeout(60):
                await asyncio.Event().wait()

        results = await asyncio.gather(clock.sleep(10), bounded(), return_exceptions=True)
        assert all(isinstance(r, ClockError) for r in results), results
        assert "timed out waiting for ['phone']" in str(results[0])
        with pytest.raises(ClockError):
            clock.call_later(1, lambda: None)

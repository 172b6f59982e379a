"""The manual clock's settle window counts real time in which the home could watch: when its own
event loop was too busy as a window ended, an answer still on its way through the loop (an
embedded broker's routing, a client's read) is not overtaken.

No broker here: the "answer" is a chain of loop callbacks ending in ``saw``, as an outside
client's message is when the broker and the watcher share the home's loop.
"""

from __future__ import annotations

import asyncio
import time

from hyperhome.devices.clock import ManualClock

HOPS = 200  # callbacks between the socket and the watcher: far more than the loop turns a check takes


def _answer_after_a_stall(clock: ManualClock, stall_s: float, seen_at: list[float]) -> None:
    """Block the loop for ``stall_s`` (a busy home), then deliver an answer through ``HOPS`` callbacks."""
    loop = asyncio.get_running_loop()

    def hop(left: int) -> None:
        if left:
            loop.call_soon(hop, left - 1)
        else:
            clock.saw("hyperhome/demo/living-ac/cmd/set")
            seen_at.append(clock.now())

    time.sleep(stall_s)  # the loop is busy, not waiting: this is the stall under test
    loop.call_soon(hop, HOPS)


async def test_an_answer_delayed_by_a_busy_loop_is_seen_at_its_instant() -> None:
    clock = ManualClock(0.0, settle_s=0.05)
    seen_at: list[float] = []
    loop = asyncio.get_running_loop()

    def state() -> None:  # a device's state at 60 s: traffic, so the step waits for its window
        clock.saw("hyperhome/demo/car/state")
        loop.call_later(0.02, _answer_after_a_stall, clock, 0.08, seen_at)

    async with clock:
        clock.call_at(60.0, state)
        clock.call_at(120.0, lambda: clock.saw("hyperhome/demo/car/state"))
        done = await clock.advance("2m")
    assert done.now == 120.0
    assert seen_at == [60.0], "the answer was overtaken: time moved on while the loop had it"
    assert clock.stalls == 1


async def test_a_responsive_loop_gives_nothing_back() -> None:
    clock = ManualClock(0.0, settle_s=0.05)
    async with clock:
        for t in (60.0, 120.0, 180.0):
            clock.call_at(t, lambda: clock.saw("hyperhome/demo/car/state"))
        done = await clock.advance("3m")
    assert done.steps == 3
    assert clock.stalls == 0

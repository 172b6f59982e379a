"""Broker restarts scheduled in a home's simulated time (the scenario step ``fault: {broker: restart}``).

``BrokerRestarts.schedule(after_s)`` returns at once; ``after_s`` simulated seconds later the home's
broker is restarted (``Home.restart_broker``) while the scenario goes on:

- **virtual time**: the restart takes no simulated time. From the instant it is due until the
  broker is back, the clock does not move (a hold joins the clock's quiescers), and then the
  barrier waits for every client that lost its connection before time moves on
  (docs/protocol.md, "Virtual time barrier"). So what the outage does to a flow is the same on
  every run and on both brokers.
- **real or scaled time**: the broker is down ``BROKER_DOWN_S`` wall seconds, then back on its
  port; the clients reconnect by themselves, in real time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from hyperhome.broker.faults import BROKER_DOWN_S
from hyperhome.devices.clock import VirtualClock

if TYPE_CHECKING:
    from hyperhome.devices.clock import TimerHandle
    from hyperhome.home.runtime import Home


class _Hold:
    """A quiescer that is not quiet until a restart is done: the virtual clock stands still."""

    def __init__(self, task: asyncio.Task[None]) -> None:
        self.activity = 0
        self._task = task

    def attach(self, wake: Callable[[], None]) -> None:
        self._task.add_done_callback(lambda _: wake())

    async def quiesce(self) -> None:
        await asyncio.shield(self._task)


class BrokerRestarts:
    """Restarts of ``home``'s broker, each at a simulated instant; see the module docstring.

    ``on_restart`` is called at the instant a restart begins (the runner notes it in the trace).
    ``aclose`` cancels what has not begun and waits for what has (raising its error, if any).
    """

    def __init__(self, home: Home, on_restart: Callable[[], None] | None = None) -> None:
        self.home = home
        self._on_restart = on_restart
        self._timers: list[TimerHandle] = []
        self._tasks: list[asyncio.Task[None]] = []

    def schedule(self, after_s: float) -> None:
        clock = self.home.clock
        self._timers.append(clock.call_at(clock.now() + after_s, self._begin))

    def _begin(self) -> None:
        clock = self.home.clock
        task = asyncio.ensure_future(self._restart())
        self._tasks.append(task)
        if isinstance(clock, VirtualClock):
            hold = _Hold(task)
            clock.add_barrier(hold)
            task.add_done_callback(lambda _: clock.remove_barrier(hold))

    async def _restart(self) -> None:
        barrier = self.home.barrier
        if barrier is not None:
            # what the instant's other timers published is delivered first, before the broker goes
            while True:
                before = barrier.activity
                await barrier.quiesce()
                for _ in range(4):
                    await asyncio.sleep(0)
                if barrier.activity == before:
                    break
        if self._on_restart is not None:
            self._on_restart()
        down_s = 0.0 if isinstance(self.home.clock, VirtualClock) else BROKER_DOWN_S
        await self.home.restart_broker(down_s)

    async def aclose(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        tasks, self._tasks = self._tasks, []
        try:
            for task in tasks:
                await task
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

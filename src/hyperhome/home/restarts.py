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
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from hyperhome.broker.client import BusClient
from hyperhome.broker.faults import BROKER_DOWN_S
from hyperhome.devices.clock import VirtualClock

if TYPE_CHECKING:
    from hyperhome.broker.client import Bus
    from hyperhome.devices.clock import TimerHandle
    from hyperhome.home.runtime import Home

RECONNECT_S = 30.0
"""Wall seconds every client has to be back after a restart in virtual time (ClientError past it)."""


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

    def __init__(
        self,
        home: Home,
        on_restart: Callable[[], None] | None = None,
        *,
        clients: Callable[[], Sequence[Bus]] = lambda: (),
    ) -> None:
        self.home = home
        self._on_restart = on_restart
        self._clients = clients
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
        virtual = isinstance(self.home.clock, VirtualClock)
        buses = [bus for bus in self._buses() if isinstance(bus, BusClient) and bus.connected]
        connects = [bus.connects for bus in buses]
        await self.home.restart_broker(0.0 if virtual else BROKER_DOWN_S)
        for bus in buses:
            bus.reconnect_now()  # the broker is back: try now, not at the end of a grown backoff
        if virtual:
            # the clock moves on only once every client that was connected is back: what the
            # instant's sleepers publish when they wake goes to the restarted broker
            for bus, before in zip(buses, connects, strict=True):
                await bus.wait_connects(before, RECONNECT_S)

    def _buses(self) -> list[Bus]:
        home = self.home
        buses = [device.bus for device in home.devices.values()]
        if home.orchestrator is not None:
            buses.append(home.orchestrator.bus)
        return [*(bus for bus in buses if bus is not None), *self._clients()]

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

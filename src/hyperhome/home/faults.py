"""The link faults of a running home: a fault proxy per device, and one control for all of them.

``Home(plan, faults=True)`` (``hyperhome up --faults``, any scenario with a ``fault:`` step) puts
a ``LinkProxy`` in front of each device's connection; the orchestrator, the controller and the
virtual clock's barrier connect to the broker directly. ``HomeFaults.apply(LinkFault(...))``
sets one link:

- ``latency``: real or scaled time: the proxy holds every byte that long, each way. Virtual
  time: the barrier hands each message over that much simulated time later.
- ``stall``: real time: the proxy forwards nothing and holds the bytes; the connection stays
  up. Virtual time: the barrier holds every message across the link until the stall ends.
- ``drop``: the proxy resets the connection; the device reconnects (in virtual time at the same
  instant, as the barrier waits for it).
- ``partition``: reset, and new connections refused for that long; in virtual time, time moves
  on without the device, which reconnects when the partition heals.
- ``clear``: back to a plain link.

Durations are the home's simulated seconds: at ``--speed 10`` a latency of 1 s holds bytes for
0.1 wall seconds. docs/scenarios.md ("Link faults") says why virtual time plays latency and
stalls itself (``broker/faults/links.py``).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from hyperhome.broker.client import BusClient, Endpoint
from hyperhome.broker.faults import LinkFault, LinkModel, LinkProxy, LinkStatus
from hyperhome.devices.clock import RealtimeClock, VirtualClock
from hyperhome.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from types import TracebackType

    from hyperhome.broker.client import Bus
    from hyperhome.broker.sync import SyncBarrier
    from hyperhome.devices.clock import Clock, TimerHandle

LOOPBACK = ("127.0.0.1", "localhost")


class UnknownLink(ConfigError):
    """A fault names a device that has no link in this home."""


class HomeFaults:
    """One fault proxy per device of a home; see the module docstring. An async context manager."""

    def __init__(self, broker: Endpoint, devices: Sequence[str], clock: Clock) -> None:
        if broker.tls is not None and broker.host not in LOOPBACK:
            msg = (
                f"link faults over TLS need the broker on this machine (localhost or 127.0.0.1), not "
                f"{broker.host}: the devices connect to their proxies on 127.0.0.1 and check the certificate"
            )
            raise ConfigError(msg)
        self.broker = broker
        self.clock = clock
        self._proxies = {device: LinkProxy(device, broker.host, broker.port) for device in devices}
        self._stack = contextlib.AsyncExitStack()
        self._barrier: SyncBarrier | None = None
        self._links = LinkModel()
        self._buses: Callable[[str], Bus | None] = lambda device: None
        self._heals: dict[str, tuple[float, TimerHandle]] = {}

    async def __aenter__(self) -> HomeFaults:
        try:
            for proxy in self._proxies.values():
                await self._stack.enter_async_context(proxy)
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for _, timer in self._heals.values():
            timer.cancel()
        self._heals.clear()
        await self._stack.aclose()

    def endpoint(self, device: str) -> Endpoint:
        """Where ``device`` connects: its proxy (TLS, if any, passes through to the broker)."""
        host = self.broker.host if self.broker.host in LOOPBACK else "127.0.0.1"
        return Endpoint(host, self._proxy(device).port, self.broker.tls)

    def attach(self, barrier: SyncBarrier | None, buses: Callable[[str], Bus | None]) -> None:
        """In virtual time, ``barrier`` plays latency and stalls; ``buses`` finds a device's connection."""
        self._barrier = barrier
        self._buses = buses
        if barrier is not None:
            assert isinstance(self.clock, VirtualClock)
            barrier.use_links(self._links, self.clock)

    # -- status ------------------------------------------------------------------------------------
    def links(self) -> list[LinkStatus]:
        return [self._status(device) for device in self._proxies]

    def link(self, device: str) -> LinkStatus | None:
        return self._status(device) if device in self._proxies else None

    def _status(self, device: str) -> LinkStatus:
        proxy = self._proxies[device]
        heal = self._heals.get(device)
        virtual = self._barrier is not None
        return LinkStatus(
            device=device,
            port=proxy.port,
            latency_s=self._links.latency_s(device) if virtual else round(proxy.latency_s * self._speed, 6),
            stalled=self._links.stalled(device) if virtual else proxy.stalled,
            partitioned=heal is not None,
            heals_at=self.clock.iso(heal[0]) if heal is not None else None,
            connections=proxy.connections,
            drops=proxy.drops,
            held_bytes=proxy.held_bytes,
        )

    # -- changes -----------------------------------------------------------------------------------
    async def apply(self, fault: LinkFault) -> LinkStatus:
        """Set ``fault.device``'s link as ``fault`` says; UnknownLink if the home has no such device."""
        device = fault.device
        self._proxy(device)
        if isinstance(self.clock, VirtualClock):
            # what is in flight at this instant is delivered over the link as it was
            await self.clock.settle()
        if fault.latency is not None:
            self._set_latency(device, fault.latency)
        elif fault.stall is not None:
            self._set_stall(device, stalled=fault.stall)
        elif fault.drop is not None:
            self._drop(device)
            if isinstance(self.clock, VirtualClock):
                await self.clock.settle()  # the device is back at this instant, as the barrier waits for it
        elif fault.partition is not None:
            self._partition(device, fault.partition)
        elif fault.clear is not None:
            self._set_latency(device, 0.0)
            self._set_stall(device, stalled=False)
            self._heal(device)
        return self._status(device)

    def _set_latency(self, device: str, latency_s: float) -> None:
        if self._barrier is None:
            self._proxy(device).latency_s = latency_s / self._speed
            return
        self._links.set_latency(device, latency_s, self.clock.now())
        self._barrier.links_changed()

    def _set_stall(self, device: str, *, stalled: bool) -> None:
        proxy = self._proxy(device)
        if self._barrier is None:
            proxy.stall() if stalled else proxy.resume()
            return
        now = self.clock.now()
        self._links.stall(device, now) if stalled else self._links.resume(device, now)
        self._barrier.links_changed()

    def _drop(self, device: str) -> None:
        bus = self._buses(device)
        if self._barrier is not None and isinstance(bus, BusClient) and bus.connected:
            # the link breaks at this point of the instant, not whenever the device notices
            self._barrier.leave(bus, lost=True)
        self._proxy(device).drop()

    def _partition(self, device: str, duration_s: float) -> None:
        proxy = self._proxy(device)
        proxy.refuse(True)
        if self._barrier is not None:
            self._barrier.cut_off(device)
        self._drop(device)
        previous = self._heals.pop(device, None)
        if previous is not None:
            previous[1].cancel()
        heals_at = self.clock.now() + duration_s
        self._heals[device] = (heals_at, self.clock.call_at(heals_at, lambda: self._heal(device)))

    def _heal(self, device: str) -> None:
        heal = self._heals.pop(device, None)
        if heal is None:
            return
        heal[1].cancel()
        self._proxy(device).refuse(False)
        if self._barrier is not None:
            self._barrier.restore(device)
        bus = self._buses(device)
        if isinstance(bus, BusClient):
            bus.reconnect_now()

    # -- helpers -----------------------------------------------------------------------------------
    def _proxy(self, device: str) -> LinkProxy:
        proxy = self._proxies.get(device)
        if proxy is None:
            known = ", ".join(sorted(self._proxies))
            msg = f"no link for device {device!r} (the links: {known})"
            raise UnknownLink(msg)
        return proxy

    @property
    def _speed(self) -> float:
        return self.clock.speed if isinstance(self.clock, RealtimeClock) else 1.0

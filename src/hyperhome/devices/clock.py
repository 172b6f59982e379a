"""Simulation time: everything that waits or integrates physics asks a ``Clock``.

Three modes share one interface:

- ``VirtualClock``: time stands still while anything is happening and jumps to the next timer
  as soon as the system is quiet (proved by ``SyncBarrier`` rounds through the broker for the
  in-process MQTT clients). 40 simulated minutes take well under a second, and a run gives the
  same trace every time. Time moves only while a *driver* waits on it: ``sleep``,
  ``sleep_until`` and ``timeout`` drive by default (a test, the scenario runner, a bounded
  request); timers set with ``call_at`` (devices' ticks, frames) are passive. So nothing happens
  behind a test's back while it is connecting a client or thinking.
- ``RealtimeClock(speed=N)``: simulated time runs N times as fast as the wall clock (``scaled``);
  ``speed=1`` is ``realtime``. For demos and the dashboard.

Times are seconds since the Unix epoch (floats) in simulation time; ``iso()`` formats them as the
wire contract's ``ts`` (ISO 8601, UTC, millisecond precision).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from hyperhome.errors import ClockError

if TYPE_CHECKING:
    from types import TracebackType


DEFAULT_START = datetime(2026, 7, 1, 17, 0, tzinfo=UTC)
"""Where virtual time starts unless told otherwise: a summer evening, the pre-cooling hour."""


def iso(t: float) -> str:
    """The wire contract's timestamp for simulation time ``t``."""
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: str | datetime) -> float:
    """Seconds since the epoch from an ISO 8601 string or datetime (naive means UTC)."""
    dt = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


class Quiescer(Protocol):
    """Knows when its clients are quiet: ``SyncBarrier`` (real brokers) or ``MemoryBroker``."""

    activity: int

    def attach(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` whenever there is work for ``quiesce`` (messages arrived to release)."""

    async def quiesce(self) -> None: ...


class TimerHandle(ABC):
    @abstractmethod
    def cancel(self) -> None: ...


class Clock(ABC):
    """Simulation time and timers; see the module docstring."""

    mode: str

    @abstractmethod
    def now(self) -> float:
        """Current simulation time, seconds since the epoch."""

    @abstractmethod
    def call_at(self, when: float, callback: Callable[[], Any]) -> TimerHandle:
        """Run ``callback`` (a quick, synchronous function) at simulation time ``when``."""

    @abstractmethod
    async def __aenter__(self) -> Clock: ...

    @abstractmethod
    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def _wake_at(
        self, when: float, callback: Callable[[], Any], on_error: Callable[[BaseException], None] | None = None
    ) -> TimerHandle:
        """A timer that resumes a driver; virtual time runs it after the passive timers due at
        the same instant have fired and the system is quiet again, or calls ``on_error`` if the
        clock itself fails before then."""
        return self.call_at(when, callback)

    def iso(self, t: float | None = None) -> str:
        return iso(self.now() if t is None else t)

    def call_later(self, delay_s: float, callback: Callable[[], Any]) -> TimerHandle:
        return self.call_at(self.now() + max(0.0, delay_s), callback)

    @contextlib.contextmanager
    def driving(self) -> Iterator[None]:
        """Let virtual time move while inside (no effect on real or scaled time)."""
        yield

    async def sleep_until(self, when: float, *, drive: bool = True) -> None:
        """Wait until simulation time ``when``; ``drive=False`` waits without moving virtual time."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not future.done():
                future.set_result(None)

        def fail(exc: BaseException) -> None:
            if not future.done():
                future.set_exception(_stopped(exc))

        handle = self._wake_at(when, wake, fail) if drive else self.call_at(when, wake)
        try:
            with self.driving() if drive else contextlib.nullcontext():
                await future
        finally:
            handle.cancel()

    async def sleep(self, seconds: float, *, drive: bool = True) -> None:
        await self.sleep_until(self.now() + max(0.0, seconds), drive=drive)

    @contextlib.asynccontextmanager
    async def timeout(self, seconds: float, *, drive: bool = True) -> AsyncIterator[None]:
        """Like ``asyncio.timeout`` but in simulation time: TimeoutError when it runs out."""
        with self.driving() if drive else contextlib.nullcontext():
            async with self._timeout(seconds, drive):
                yield

    @contextlib.asynccontextmanager
    async def _timeout(self, seconds: float, drive: bool) -> AsyncIterator[None]:
        task = asyncio.current_task()
        if task is None:
            msg = "clock.timeout() must be used inside a task"
            raise ClockError(msg)
        state: dict[str, Any] = {"active": True, "fired": False, "failed": None}

        def expire() -> None:
            if state["active"]:
                state["fired"] = True
                task.cancel()

        def fail(exc: BaseException) -> None:
            if state["active"]:
                state["failed"] = exc
                task.cancel()

        when = self.now() + max(0.0, seconds)
        handle = self._wake_at(when, expire, fail) if drive else self.call_at(when, expire)
        try:
            yield
        except asyncio.CancelledError:
            if (state["fired"] or state["failed"]) and task.uncancel() == 0:
                if state["failed"] is not None:
                    raise _stopped(state["failed"]) from state["failed"]
                raise TimeoutError from None
            raise
        finally:
            state["active"] = False
            handle.cancel()


# -- real and scaled time ---------------------------------------------------------------------
class _LoopTimer(TimerHandle):
    def __init__(self, handle: asyncio.TimerHandle) -> None:
        self._handle = handle

    def cancel(self) -> None:
        self._handle.cancel()


class RealtimeClock(Clock):
    """Simulation time = start + speed x elapsed wall time. ``speed=1`` is real time."""

    def __init__(self, speed: float = 1.0, start: float | None = None) -> None:
        if speed <= 0:
            msg = f"speed must be positive, not {speed}"
            raise ClockError(msg)
        self.speed = speed
        self.mode = "realtime" if speed == 1 else "scaled"
        self._start = start
        self._loop: asyncio.AbstractEventLoop | None = None
        self._t0 = 0.0

    async def __aenter__(self) -> RealtimeClock:
        self._loop = asyncio.get_running_loop()
        self._t0 = self._loop.time()
        if self._start is None:
            self._start = datetime.now(UTC).timestamp()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._loop = None

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            msg = "the clock is not running (use `async with clock:`)"
            raise ClockError(msg)
        return self._loop

    def now(self) -> float:
        loop = self._running_loop()
        assert self._start is not None
        return self._start + (loop.time() - self._t0) * self.speed

    def call_at(self, when: float, callback: Callable[[], Any]) -> TimerHandle:
        loop = self._running_loop()
        assert self._start is not None
        loop_when = self._t0 + (when - self._start) / self.speed
        return _LoopTimer(loop.call_at(loop_when, callback))


# -- virtual time -------------------------------------------------------------------------------
class _Entry(TimerHandle):
    __slots__ = ("callback", "cancelled", "driver", "on_error", "when")

    def __init__(
        self,
        when: float,
        callback: Callable[[], Any],
        *,
        driver: bool = False,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False
        self.driver = driver
        self.on_error = on_error

    def cancel(self) -> None:
        self.cancelled = True


class VirtualClock(Clock):
    """Discrete-event time that jumps when the system is quiet; see the module docstring.

    Register the barrier of every home that runs in this process with ``add_barrier``; with
    none (unit tests without a broker) "quiet" means the event loop ran a few rounds.
    """

    mode = "virtual"

    def __init__(self, start: float | None = None) -> None:
        self._now = DEFAULT_START.timestamp() if start is None else start
        self._heap: list[tuple[float, int, _Entry]] = []
        self._seq = itertools.count()
        self._barriers: list[Quiescer] = []
        self._wakeup = asyncio.Event()
        self._drivers = 0
        self._task: asyncio.Task[None] | None = None
        self._error: BaseException | None = None
        self.steps = 0

    def add_barrier(self, barrier: Quiescer) -> None:
        self._barriers.append(barrier)
        barrier.attach(self._wakeup.set)

    def remove_barrier(self, barrier: Quiescer) -> None:
        if barrier in self._barriers:
            self._barriers.remove(barrier)

    def now(self) -> float:
        return self._now

    @contextlib.contextmanager
    def driving(self) -> Iterator[None]:
        self._drivers += 1
        self._wakeup.set()
        try:
            yield
        finally:
            self._drivers -= 1

    def call_at(self, when: float, callback: Callable[[], Any]) -> TimerHandle:
        return self._schedule(when, callback, driver=False)

    def _wake_at(
        self, when: float, callback: Callable[[], Any], on_error: Callable[[BaseException], None] | None = None
    ) -> TimerHandle:
        return self._schedule(when, callback, driver=True, on_error=on_error)

    def _schedule(
        self,
        when: float,
        callback: Callable[[], Any],
        *,
        driver: bool,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> TimerHandle:
        if self._error is not None:
            raise _stopped(self._error)
        entry = _Entry(max(when, self._now), callback, driver=driver, on_error=on_error)
        heapq.heappush(self._heap, (entry.when, next(self._seq), entry))
        self._wakeup.set()
        return entry

    async def __aenter__(self) -> VirtualClock:
        if self._task is not None:
            msg = "the virtual clock is already running"
            raise ClockError(msg)
        self._task = asyncio.create_task(self._drive(), name="virtual-clock")
        return self

    async def __aexit__(self, *exc: object) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            # a failure of the clock itself already reached every waiter (see _drive)
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def settle(self) -> None:
        """Wait until the system is quiet (no message in flight, no handler running)."""
        while True:
            before = [b.activity for b in self._barriers]
            for barrier in list(self._barriers):
                await barrier.quiesce()
            for _ in range(4):
                await asyncio.sleep(0)
            if [b.activity for b in self._barriers] == before:
                return

    async def _fire_due(self) -> None:
        """Fire what is due now: passive timers first, then (once quiet) the drivers' wake-ups."""
        drivers: list[_Entry] = []
        while self._heap and self._heap[0][0] <= self._now:
            entry = heapq.heappop(self._heap)[2]
            if entry.cancelled:
                continue
            if entry.driver:
                drivers.append(entry)
            else:
                entry.callback()
        if drivers:
            await self.settle()
            for entry in drivers:
                if not entry.cancelled:
                    entry.callback()

    async def _drive(self) -> None:
        try:
            while True:
                # cleared before settling: a message that arrives meanwhile (to be released by the
                # barrier), a new timer or a new driver makes the wait below return at once
                self._wakeup.clear()
                await self.settle()
                while self._heap and self._heap[0][2].cancelled:
                    heapq.heappop(self._heap)
                if not self._heap or self._drivers == 0:
                    await self._wakeup.wait()
                    continue
                self._now = max(self._now, self._heap[0][0])
                self.steps += 1
                await self._fire_due()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._error = exc
            for _, _, entry in self._heap:
                if entry.on_error is not None and not entry.cancelled:
                    entry.on_error(exc)
            raise


def _stopped(exc: BaseException) -> ClockError:
    error = ClockError(f"the virtual clock stopped: {exc}")
    error.__cause__ = exc
    return error


def make_clock(speed: float | None, start: float | None = None) -> Clock:
    """``None`` -> virtual time; a number -> scaled (1 = real time)."""
    return VirtualClock(start) if speed is None else RealtimeClock(speed, start)

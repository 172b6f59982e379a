"""Simulation time: everything that waits or integrates physics asks a ``Clock``.

Three modes share one interface:

- ``VirtualClock``: time stands still while anything is happening and jumps to the next timer
  as soon as the system is quiet (proved by ``SyncBarrier`` rounds through the broker for the
  in-process MQTT clients). 40 simulated minutes take well under a second, and a run gives the
  same trace every time. Time moves only while a *driver* waits on it: ``sleep``,
  ``sleep_until`` and ``timeout`` drive by default (a test, the scenario runner, a bounded
  request); timers set with ``call_at`` (devices' ticks, frames) are passive. So nothing happens
  behind a test's back while it is connecting a client or thinking.
- ``ManualClock``: virtual time that stands still until someone calls ``advance`` (a test, the
  web API, ``$clock/cmd/advance``, ``hyperhome clock advance``). It moves timer by timer up to
  the target, and after each step waits until the home is quiet *counting outside clients too*:
  the in-process clients by the barrier, everything else by a real-time settle window in which
  no message was seen on the home's topics (``saw``, fed by a watcher subscription the home
  makes), bounded by a timeout that fails loudly (``ClockBusyError``). docs/test-your-code.md
  says what this guarantees and what it cannot.
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
import math
from abc import ABC, abstractmethod
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from hyperhome.durations import parse_duration
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


# -- manual time -----------------------------------------------------------------------------------
DEFAULT_SETTLE_S = 0.05
"""Real time without a message on the home's topics after which a manual step counts as quiet."""
DEFAULT_STEP_TIMEOUT_S = 10.0
"""Real time one manual step may take to go quiet before ``advance`` fails with ``ClockBusyError``."""
_RECENT = 4096  # messages remembered for the busy report
_STALL_S = 0.005  # a window's timer this late means the loop was busy, not watching


class ClockBusyError(ClockError):
    """A manual step did not go quiet within its bound; the message says what was still busy."""


@dataclass(frozen=True, slots=True)
class Advanced:
    """What one ``advance`` did: where time stands now, how many timer steps it took, wall seconds."""

    now: float
    steps: int
    wall_s: float
    met: bool = True
    """For ``advance_until``: the condition held (else time reached the bound)."""


@dataclass(slots=True)
class _Request:
    target: float
    until: Callable[[], bool] | None
    settle_s: float
    timeout_s: float
    done: asyncio.Future[Advanced]


class ManualClock(VirtualClock):
    """Virtual time moved only by ``advance``; see the module docstring.

    Between advances the home still reacts in real time (a command from an outside client is
    handled at once, at the current simulated time); drivers (``sleep``, ``timeout``) never move
    time, they wait for someone to advance it.
    """

    mode = "manual"

    def __init__(
        self,
        start: float | None = None,
        *,
        settle_s: float = DEFAULT_SETTLE_S,
        timeout_s: float = DEFAULT_STEP_TIMEOUT_S,
    ) -> None:
        super().__init__(start)
        if settle_s < 0 or timeout_s <= 0:
            msg = f"settle window {settle_s} s and step timeout {timeout_s} s must be positive"
            raise ClockError(msg)
        self.settle_s = settle_s
        self.timeout_s = timeout_s
        self._requests: deque[_Request] = deque()
        self._seen = 0
        self._last_seen = -math.inf
        self._recent: deque[tuple[float, str]] = deque(maxlen=_RECENT)
        self._ignored: tuple[str, ...] = ()
        self.advances = 0
        self.quiet_waits = 0
        """Settle windows waited for (steps with traffic on the home's topics)."""
        self.stalls = 0
        """Windows extended because this event loop was late when they ended (see ``_quiet``)."""

    # -- the watcher's side -----------------------------------------------------------------
    def ignore(self, *prefixes: str) -> None:
        """Topics under these prefixes are not traffic (the barrier's own ``$sync`` tokens)."""
        self._ignored = (*self._ignored, *prefixes)

    def saw(self, topic: str) -> None:
        """A message on the home's topics arrived at the watcher (whoever published it)."""
        if topic.startswith(self._ignored):
            return
        now = asyncio.get_running_loop().time()
        self._seen += 1
        self._last_seen = now
        self._recent.append((now, topic))
        self._wakeup.set()

    # -- driving ----------------------------------------------------------------------------------
    def next_timer(self) -> float | None:
        """Simulated time of the next pending timer, if any."""
        while self._heap and self._heap[0][2].cancelled:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    async def advance(
        self, by: float | str, *, settle_s: float | None = None, timeout_s: float | None = None
    ) -> Advanced:
        """Move simulated time ``by`` seconds (or a duration such as ``"10m"``), timer by timer,
        waiting after every step until the home, outside clients included, is quiet."""
        seconds = _seconds(by)
        if seconds < 0 or not math.isfinite(seconds):
            msg = f"advance by {by!r}: the duration must be finite and not negative"
            raise ClockError(msg)
        return await self._submit(self._now + seconds, None, settle_s, timeout_s)

    async def advance_until(
        self,
        condition: Callable[[], bool],
        *,
        max: float | str,
        settle_s: float | None = None,
        timeout_s: float | None = None,
    ) -> Advanced:
        """Advance step by step until ``condition()`` holds (checked once each step is quiet),
        at most ``max``; ``Advanced.met`` says whether it held."""
        seconds = _seconds(max)
        return await self._submit(self._now + seconds, condition, settle_s, timeout_s)

    async def _submit(
        self, target: float, until: Callable[[], bool] | None, settle_s: float | None, timeout_s: float | None
    ) -> Advanced:
        if self._task is None:
            msg = "the manual clock is not running (use `async with clock:`)"
            raise ClockError(msg)
        if self._error is not None:
            raise _stopped(self._error)
        future: asyncio.Future[Advanced] = asyncio.get_running_loop().create_future()
        self._requests.append(
            _Request(
                target,
                until,
                self.settle_s if settle_s is None else settle_s,
                self.timeout_s if timeout_s is None else timeout_s,
                future,
            )
        )
        self._wakeup.set()
        return await asyncio.shield(future)

    async def _drive(self) -> None:
        try:
            while True:
                self._wakeup.clear()
                await self.settle()
                if self._heap and self._heap[0][0] <= self._now:
                    await self._fire_due()
                    continue
                if self._requests:
                    request = self._requests.popleft()
                    if request.done.cancelled():
                        continue
                    try:
                        result = await self._run(request)
                    except ClockError as exc:
                        if not request.done.done():
                            request.done.set_exception(exc)
                    else:
                        if not request.done.done():
                            request.done.set_result(result)
                    continue
                await self._wakeup.wait()
        except asyncio.CancelledError:
            for request in self._requests:
                if not request.done.done():
                    request.done.set_exception(ClockError("the manual clock stopped"))
            raise
        except Exception as exc:
            self._error = exc
            for request in self._requests:
                if not request.done.done():
                    request.done.set_exception(_stopped(exc))
            for _, _, entry in self._heap:
                if entry.on_error is not None and not entry.cancelled:
                    entry.on_error(exc)
            raise

    async def _run(self, request: _Request) -> Advanced:
        loop = asyncio.get_running_loop()
        started = loop.time()
        steps = 0
        self.advances += 1
        marks = (self._activity() - 1, self._seen)  # the first wait: whatever came before the call
        while True:
            await self._quiet(request, *marks)
            if request.until is not None and request.until():
                return Advanced(self._now, steps, loop.time() - started, met=True)
            when = self.next_timer()
            if when is not None and when <= request.target:
                marks = (self._activity(), self._seen)
                self._now = max(self._now, when)
                steps += 1
                self.steps += 1
                await self._fire_due()
                continue
            self._now = max(self._now, request.target)
            if request.until is not None:
                return Advanced(self._now, steps, loop.time() - started, met=request.until())
            return Advanced(self._now, steps, loop.time() - started)

    def _activity(self) -> int:
        return sum(b.activity for b in self._barriers)

    async def _quiet(self, request: _Request, activity: int, seen: int) -> None:
        """Wait until the in-process clients are quiet and, for ``settle_s`` of real time, no
        message was seen on the home's topics; ClockBusyError after ``timeout_s``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + request.timeout_s
        quiet_from = -math.inf
        waited = False
        stalled = False
        while True:
            self._wakeup.clear()
            try:
                async with asyncio.timeout_at(deadline):
                    await self.settle()
            except TimeoutError:
                raise self._busy(request, "the in-process clients were still exchanging messages") from None
            now = loop.time()
            if self._activity() != activity or self._seen != seen:
                # something was published: its copies may still be on their way to the watcher
                # and to outside clients, whose answers the window waits for
                activity, seen = self._activity(), self._seen
                quiet_from = max(quiet_from, now)
            end = max(quiet_from, self._last_seen) + request.settle_s
            if self._wakeup.is_set():  # an arrival to release, a new timer, a message seen
                continue
            if end <= now:
                if waited:
                    self.quiet_waits += 1
                return
            if now >= deadline:
                raise self._busy(request, "messages kept coming on the home's topics")
            waited = True
            wake = min(end, deadline)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(wake):
                    await self._wakeup.wait()
            late = loop.time() - wake
            if late > max(_STALL_S, request.settle_s / 10) and not stalled:
                # this loop was busy (the home, an embedded broker, a GC) when the window ended, so
                # an answer may be in a socket or a queue still: the stalled time is given back once,
                # at most one window, so a loaded machine makes a step slower, never busy
                stalled = True
                self.stalls += 1
                quiet_from = loop.time() - request.settle_s + min(late, request.settle_s)

    def _busy(self, request: _Request, what: str) -> ClockBusyError:
        loop = asyncio.get_running_loop()
        now = loop.time()
        window = [topic for t, topic in self._recent if t >= now - request.timeout_s]
        counts = Counter(window).most_common(5)
        listed = ", ".join(f"{topic} ({n})" for topic, n in counts) or "none seen by the watcher"
        last = f"{(now - self._last_seen) * 1000:.0f} ms ago" if math.isfinite(self._last_seen) else "never"
        msg = (
            f"advance to {iso(request.target)} is stuck at {iso(self._now)}: the home was still busy after "
            f"{request.timeout_s:g} s of real time ({what}; settle window {request.settle_s * 1000:g} ms). "
            f"Messages in that time: {listed}; the last one {last}. An outside client that keeps "
            "answering (a feedback loop) or a slow one never lets the home go quiet: fix it, or raise the "
            "step timeout"
        )
        return ClockBusyError(msg)


def _seconds(value: float | str) -> float:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise ClockError(str(exc)) from None


def _stopped(exc: BaseException) -> ClockError:
    error = ClockError(f"the virtual clock stopped: {exc}")
    error.__cause__ = exc
    return error


def make_clock(
    speed: float | None, start: float | None = None, *, manual: bool = False, settle_s: float = DEFAULT_SETTLE_S
) -> Clock:
    """``manual`` -> manual time; ``None`` -> virtual time; a number -> scaled (1 = real time)."""
    if manual:
        return ManualClock(start, settle_s=settle_s)
    return VirtualClock(start) if speed is None else RealtimeClock(speed, start)

"""Owned tasks: every long-lived task has an owner that cancels and awaits it, bounded.

``TaskOwner`` is the one way a long-lived object (a device, the orchestrator and its services, a
bus client) starts background work. It wraps an ``asyncio.TaskGroup``, opened by the object's own
start (``open``) and closed by its stop (``aclose``), so the "set of tasks plus a done-callback"
pattern is written once, here.

What an owner does when one of its tasks raises (the same for every owner in the project, and
what each hand-written owner did before):

- ``spawn`` is fire-and-forget: an ``Exception`` raised by the task is logged (``log.error`` with
  the owner's name, the spawn's ``failure`` text and the traceback) and goes no further; the
  siblings and the owner carry on. ``CancelledError`` is the normal end of a cancelled task.
- ``KeyboardInterrupt``/``SystemExit`` are not caught: the TaskGroup cancels the siblings and
  ``aclose`` re-raises.
- All-or-nothing work (start these together, and if one fails cancel the others and raise its
  error) uses ``asyncio.TaskGroup`` directly, with ``first_error`` to raise the failure as it is
  rather than in an ``ExceptionGroup`` (see ``Home._start``).

``aclose(grace_s=..., timeout_s=...)`` stops taking new work (a later ``spawn`` drops its coroutine
and returns ``None``), waits up to ``grace_s`` for the tasks to end on their own (0 by default:
cancel at once), cancels what is left and waits up to ``timeout_s`` more, in wall time. A task
that still has not ended has swallowed its cancellation: that is a bug in the task, logged with
its name; the owner returns anyway (its bound holds) and leaves that task cancelled. The owner can
be opened again after it is closed (a device restarted, a bus client entered again).

Tasks are created with ``TaskGroup.create_task``, i.e. ``loop.create_task`` as before, and the
fire-and-forget guard adds no step of its own, so the virtual clock and the barrier see the same
tasks run at the same points as with ``asyncio.create_task``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 5.0  # wall time an owner waits for its cancelled tasks at close


class TaskOwner:
    """Owns the background tasks of one object; see the module docstring for its error policy."""

    def __init__(self, name: str, *, logger: logging.Logger = log) -> None:
        self.name = name
        self._log = logger  # the owner's module logger, for its tasks' failures
        self._group: asyncio.TaskGroup | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False

    def __repr__(self) -> str:
        return f"TaskOwner({self.name!r}, tasks={len(self._tasks)})"

    @property
    def tasks(self) -> frozenset[asyncio.Task[None]]:
        """The tasks still running."""
        return frozenset(self._tasks)

    @property
    def is_open(self) -> bool:
        """True between ``open`` and the start of ``aclose``: ``spawn`` starts tasks."""
        return self._group is not None and not self._closing

    async def open(self) -> None:
        if self._group is not None:
            msg = f"task owner {self.name!r} is already open"
            raise RuntimeError(msg)
        group = asyncio.TaskGroup()
        await group.__aenter__()
        self._group, self._closing = group, False

    def spawn(
        self,
        coro: Coroutine[Any, Any, Any],
        *,
        name: str | None = None,
        failure: str = "background task failed",
        on_done: Callable[[asyncio.Task[None]], object] | None = None,
    ) -> asyncio.Task[None] | None:
        """Start ``coro`` as a fire-and-forget task of this owner (its failure is logged).

        ``on_done`` runs as the task's done-callback. Once the owner is closing (or before it is
        opened) nothing starts: the coroutine is closed and ``None`` returned.
        """
        group = self._group
        if group is None or self._closing:
            coro.close()
            log.debug("%s: not started after its owner closed: %s", self.name, name or coro)
            return None
        task = group.create_task(self._guard(coro, failure), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda _: coro.close())  # cancelled before its first step: no "never awaited"
        if on_done is not None:
            task.add_done_callback(on_done)
        return task

    async def _guard(self, coro: Coroutine[Any, Any, Any], failure: str) -> None:
        try:
            await coro
        except Exception:
            self._log.exception("%s: %s", self.name, failure)

    async def aclose(self, *, grace_s: float = 0.0, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Stop: wait ``grace_s`` for the tasks, cancel the rest, wait ``timeout_s`` (wall time)."""
        group = self._group
        if group is None or self._closing:
            return
        self._closing = True
        try:
            pending = await self._wait(grace_s) if grace_s > 0 else set(self._tasks)
            for task in pending:
                task.cancel()
            pending = await self._wait(timeout_s)
        except BaseException:  # the closer itself was cancelled: its tasks go with it
            for task in self._tasks:
                task.cancel()
            self._group = None
            raise
        if pending:
            names = ", ".join(sorted(task.get_name() for task in pending))
            self._log.error(
                "%s: %d task(s) ignored cancellation for %s s: %s", self.name, len(pending), timeout_s, names
            )
            self._group = None  # exiting the group would wait on them without a bound
            return
        self._group = None
        await group.__aexit__(None, None, None)

    async def _wait(self, timeout_s: float) -> set[asyncio.Task[None]]:
        if not self._tasks:
            return set()
        _, pending = await asyncio.wait(set(self._tasks), timeout=timeout_s)
        return pending


def first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first error of a TaskGroup's group (nested groups unwrapped), to raise as it is."""
    error: BaseException = group
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error

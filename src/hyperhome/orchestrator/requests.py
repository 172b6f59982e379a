"""Send a command to a device and wait for its reply: the correlation logic, once.

The controller (CLI, web API, tests) and the orchestrator's flows both use a ``Requester``. It
subscribes to every device's ``reply`` and matches replies to pending commands by ``id``::

    requester = Requester(bus, topics, bound=clock_bound(clock))
    await requester.attach()
    reply = await requester.request("phone", "stream.start", {"stream": "rear", "viewer": "tablet"})
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

from hyperhome.broker.client import Bus, Message
from hyperhome.broker.topics import Topics
from hyperhome.broker.wire import Command, Reply, decode
from hyperhome.errors import CommandError

if TYPE_CHECKING:
    from hyperhome.devices.clock import Clock

DEFAULT_REPLY_TIMEOUT_S = 10.0
Bound = Callable[[float], AbstractAsyncContextManager[None]]


def clock_bound(clock: Clock | None, *, drive: bool = True) -> Bound:
    """A bound in simulated time when a clock is given (driving it or not), else in wall time."""

    @contextlib.asynccontextmanager
    async def bounded(seconds: float) -> AsyncIterator[None]:
        if clock is not None:
            async with clock.timeout(seconds, drive=drive):
                yield
        else:
            async with asyncio.timeout(seconds):
                yield

    return bounded


class Requester:
    """Commands out, replies matched back by id; see the module docstring."""

    def __init__(self, bus: Bus, topics: Topics, *, bound: Bound, id_prefix: str | None = None) -> None:
        self.bus = bus
        self.topics = topics
        self._bound = bound
        self._prefix = id_prefix
        self._ids = itertools.count(1)
        self._pending: dict[str, asyncio.Future[Reply]] = {}

    async def attach(self) -> None:
        """Subscribe to every device's replies (call before the bus connects, or any time after)."""
        await self.bus.subscribe(self.topics.all_of("reply"), self.on_reply)

    def new_id(self) -> str:
        if self._prefix is None:
            return f"c-{secrets.token_hex(6)}"
        return f"{self._prefix}-{next(self._ids)}"

    async def request(
        self,
        device: str,
        command: str,
        args: dict[str, Any] | None = None,
        *,
        timeout_s: float = DEFAULT_REPLY_TIMEOUT_S,
        command_id: str | None = None,
    ) -> Reply:
        """Send a command and return its reply, whatever it says (TimeoutError if none comes)."""
        cmd = Command(id=command_id or self.new_id(), args=args or {})
        assert cmd.id is not None
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._pending[cmd.id] = future
        try:
            await self.bus.publish(self.topics.cmd(device, command), cmd.to_payload())
            async with self._bound(timeout_s):
                return await future
        finally:
            self._pending.pop(cmd.id, None)

    async def send(
        self,
        device: str,
        command: str,
        args: dict[str, Any] | None = None,
        *,
        timeout_s: float = DEFAULT_REPLY_TIMEOUT_S,
    ) -> dict[str, Any]:
        """Send a command; return its result, or raise CommandError with the reply's code."""
        reply = await self.request(device, command, args, timeout_s=timeout_s)
        if not reply.ok:
            raise CommandError.from_reply(reply)
        return reply.result or {}

    async def tell(self, device: str, command: str, args: dict[str, Any] | None = None) -> None:
        """Send a command and do not wait for its reply (clean-up that must never block)."""
        cmd = Command(id=self.new_id(), args=args or {})
        await self.bus.publish(self.topics.cmd(device, command), cmd.to_payload())

    def on_reply(self, message: Message) -> None:
        try:
            reply = decode(Reply, message.payload)
        except ValueError:  # ValidationError too
            return
        future = self._pending.get(reply.id or "")
        if future is not None and not future.done():
            future.set_result(reply)

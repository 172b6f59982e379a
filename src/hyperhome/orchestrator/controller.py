"""A controller client: what the CLI, the web API, tests and users' apps drive a home with.

It logs in with the home's controller credentials (publish ``+/cmd/#``, subscribe to the whole
home), keeps a ``Registry`` of the devices, and sends commands and waits for their replies::

    async with Controller(MqttConnector(endpoint), creds.controller, topics) as home:
        reply = await home.send("living-ac", "set", {"target_c": 24})
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from hyperhome.broker.client import Bus, Connector, Message
from hyperhome.broker.credentials import Login
from hyperhome.broker.topics import CONTROLLER, Topics
from hyperhome.broker.wire import Command, Reply
from hyperhome.errors import CommandError
from hyperhome.orchestrator.registry import Registry

if TYPE_CHECKING:
    from types import TracebackType

    from hyperhome.devices.clock import Clock

DEFAULT_REPLY_TIMEOUT_S = 10.0


class Controller:
    def __init__(
        self,
        connect: Connector,
        login: Login,
        topics: Topics,
        *,
        clock: Clock | None = None,
        client_id: str | None = None,
    ) -> None:
        self.topics = topics
        self.registry = Registry(topics)
        self._clock = clock
        self._pending: dict[str, asyncio.Future[Reply]] = {}
        self._echoes: dict[str, asyncio.Future[None]] = {}
        self.bus: Bus = connect(login, client_id=client_id, sync_name=CONTROLLER)

    async def __aenter__(self) -> Controller:
        await self.registry.attach(self.bus)
        await self.bus.subscribe(self.topics.all_of("reply"), self._on_reply)
        await self.bus.subscribe(self.topics.sync(CONTROLLER), self._on_echo)
        await self.bus.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.bus.__aexit__(exc_type, exc, tb)

    @contextlib.asynccontextmanager
    async def _bounded(self, seconds: float) -> AsyncIterator[None]:
        """A bound in simulated time when a clock is given, else in wall time."""
        if self._clock is not None:
            async with self._clock.timeout(seconds):
                yield
        else:
            async with asyncio.timeout(seconds):
                yield

    # -- registry -----------------------------------------------------------------------------
    async def synced(self, timeout_s: float = 10.0) -> Registry:
        """Wait until every retained message the broker had for us has arrived.

        Publishes a nonce on the controller's own ``$sync`` topic and waits for it to come back:
        the broker delivers retained messages for a subscription before it handles our later publish.
        """
        nonce = secrets.token_hex(8)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._echoes[nonce] = future
        try:
            await self.bus.publish(self.topics.sync(CONTROLLER), {"echo": nonce})
            async with asyncio.timeout(timeout_s):
                await future
        finally:
            self._echoes.pop(nonce, None)
        return self.registry

    def _on_echo(self, message: Message) -> None:
        with contextlib.suppress(ValueError, AttributeError):
            future = self._echoes.get(str(message.json().get("echo")))
            if future is not None and not future.done():
                future.set_result(None)

    # -- commands -----------------------------------------------------------------------------
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
        cmd = Command(id=command_id or f"c-{secrets.token_hex(6)}", args=args or {})
        assert cmd.id is not None
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._pending[cmd.id] = future
        try:
            await self.bus.publish(self.topics.cmd(device, command), cmd.to_payload())
            async with self._bounded(timeout_s):
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
            assert reply.error is not None
            raise CommandError(reply.error.code, reply.error.message)
        return reply.result or {}

    def _on_reply(self, message: Message) -> None:
        try:
            reply = Reply.model_validate_json(message.payload)
        except ValidationError:
            return
        future = self._pending.get(reply.id or "")
        if future is not None and not future.done():
            future.set_result(reply)

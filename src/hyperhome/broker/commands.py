"""The command endpoint: decode, de-duplicate, dispatch, one reply, for every device and the orchestrator.

Whoever answers commands on ``.../{me}/cmd/{command}`` (each device, the orchestrator with its
flows and services) does it through one ``CommandEndpoint``; only what a command *does* differs,
and that is the owner's ``dispatch``::

    endpoint = CommandEndpoint(dispatch, send=publish_reply, now=clock.iso, owner="living-ac")
    await bus.subscribe(topics.cmd("living-ac", "#"), endpoint.on_message)

For each command message the endpoint:

1. decodes it (``wire.decode_command``); a payload that is not a command (not JSON, over the
   size or depth limit, not an object, malformed ``id`` or ``args``) is answered ``bad_request``,
   with the command's ``id`` when its top level shows one, else ``"id": null``; it is not
   remembered (the id names no command that was run);
2. answers an ``id`` it has seen within the last ``cache_size`` commands with the first reply
   again, byte for byte, without dispatching (QoS 1 may deliver twice; a controller retries after
   a timeout). A copy that arrives while the first is still being handled waits for its reply.
   An ``id`` reused for another command, or for the same command with other args, is answered
   ``bad_request`` and not applied (a retry repeats a command unchanged; a new command needs a
   new id); the first reply stays cached for real retries;
3. calls ``dispatch(command, args)``: it returns the result (``None`` for none) or raises
   ``CommandError(code, message)``; any other exception is logged and answered ``internal``;
4. sends exactly one reply (``send``), and remembers it under the command's ``id``.

Error replies are remembered too: an ``id`` names one attempt, so retrying a refused command
means sending it again with a new id.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from hyperhome.broker.client import Message
from hyperhome.broker.wire import Command, PayloadError, Reply, decode_command
from hyperhome.errors import CommandError, ErrorCode

log = logging.getLogger(__name__)

REPLY_CACHE_SIZE = 1000
"""Commands whose replies an endpoint remembers (docs/protocol.md: "within the last 1,000")."""

Result = dict[str, Any] | None
Dispatch = Callable[[str, dict[str, Any]], Awaitable[Result]]
"""What a command does: its name and args in, its result out; raises ``CommandError`` to refuse."""
Send = Callable[[bytes], Awaitable[None]]
"""Publishes one reply payload on the owner's ``reply`` topic."""


@dataclass(slots=True)
class _Seen:
    """A command id the endpoint answered (or is answering)."""

    command: str
    args: str
    """The args as canonical JSON: a retry must repeat them."""
    reply: asyncio.Future[bytes | None]
    """The reply once sent; ``None`` if the first copy was never answered (its handling was cancelled)."""


class CommandEndpoint:
    """Answers one owner's commands; see the module docstring."""

    def __init__(
        self,
        dispatch: Dispatch,
        *,
        send: Send,
        now: Callable[[], str],
        owner: str,
        cache_size: int = REPLY_CACHE_SIZE,
    ) -> None:
        self._dispatch = dispatch
        self._send = send
        self._now = now
        self.owner = owner
        self._cache_size = cache_size
        self._seen: OrderedDict[str, _Seen] = OrderedDict()

    async def on_message(self, message: Message) -> None:
        """A bus handler for ``.../cmd/#``: the command's name is the topic after ``/cmd/``."""
        await self.handle(message.topic.rsplit("/cmd/", 1)[-1], message.payload)

    async def handle(self, command: str, payload: bytes) -> None:
        """Answer one command message with exactly one reply (a repeated id: the first reply again)."""
        try:
            cmd = decode_command(payload)
        except PayloadError as exc:
            refused = Command(id=exc.command_id)
            await self._send(self._reply(refused, command, CommandError(ErrorCode.BAD_REQUEST, str(exc))))
            return
        if cmd.id is None:
            await self._send(await self._answer(cmd, command))
            return
        args = _canonical(cmd.args)
        seen = self._seen.get(cmd.id)
        if seen is not None:
            await self._repeat(cmd, command, args, seen)
            return
        seen = self._remember(cmd.id, _Seen(command, args, asyncio.get_running_loop().create_future()))
        try:
            reply = await self._answer(cmd, command)
            seen.reply.set_result(reply)
        finally:
            if not seen.reply.done():  # cancelled while handling (the owner stops): nothing to repeat
                seen.reply.set_result(None)
                if self._seen.get(cmd.id) is seen:
                    del self._seen[cmd.id]
        await self._send(reply)

    def _remember(self, command_id: str, seen: _Seen) -> _Seen:
        self._seen[command_id] = seen
        while len(self._seen) > self._cache_size:
            self._seen.popitem(last=False)
        return seen

    async def _repeat(self, cmd: Command, command: str, args: str, seen: _Seen) -> None:
        assert cmd.id is not None
        if (seen.command, seen.args) != (command, args):
            other = "with other args" if seen.command == command else "(a different command)"
            msg = (
                f"id {cmd.id!r} is already used by a {seen.command!r} command {other}: a retry repeats "
                "a command unchanged, a new command needs a new id"
            )
            await self._send(self._reply(cmd, command, CommandError(ErrorCode.BAD_REQUEST, msg)))
            return
        self._seen.move_to_end(cmd.id)
        reply = await seen.reply
        if reply is not None:
            await self._send(reply)

    async def _answer(self, cmd: Command, command: str) -> bytes:
        """Dispatch the command; its reply payload, whatever happened."""
        try:
            result = await self._dispatch(command, cmd.args)
        except CommandError as exc:
            return self._reply(cmd, command, exc)
        except Exception:
            log.exception("%s: command %s failed", self.owner, command)
            return self._reply(cmd, command, CommandError(ErrorCode.INTERNAL, f"{command} failed inside {self.owner}"))
        return Reply.answer(cmd.id, command, self._now(), result=result or {}).to_payload()

    def _reply(self, cmd: Command, command: str, error: CommandError) -> bytes:
        return Reply.answer(cmd.id, command, self._now(), error=(error.code, error.message)).to_payload()


def _canonical(args: dict[str, Any]) -> str:
    return json.dumps(args, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

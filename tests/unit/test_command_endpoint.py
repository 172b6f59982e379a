"""The one command endpoint on the in-memory bus: decode, de-duplicate, dispatch, one reply."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from hyperhome.broker.client import BusClient, Message
from hyperhome.broker.commands import CommandEndpoint
from hyperhome.broker.memory import MemoryBroker
from hyperhome.broker.topics import Topics
from hyperhome.broker.wire import dumps
from hyperhome.errors import CommandError, ErrorCode

TOPICS = Topics("test")
NOW = "2026-07-01T18:00:00.000Z"


@dataclass
class Counter:
    """An owner whose commands are observable: ``add`` counts, ``refuse`` and ``crash`` fail."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    total: int = 0
    gate: asyncio.Event | None = None

    async def dispatch(self, name: str, args: dict[str, Any]) -> dict[str, Any] | None:
        self.calls.append((name, args))
        if self.gate is not None:
            await self.gate.wait()
        if name == "add":
            self.total += int(args.get("n", 1))
            return {"total": self.total}
        if name == "refuse":
            raise CommandError(ErrorCode.REJECTED, "not now")
        if name == "crash":
            msg = "a bug"
            raise RuntimeError(msg)
        if name == "nothing":
            return None
        raise CommandError(ErrorCode.UNKNOWN_COMMAND, f"no command {name!r}")


@dataclass
class Wire:
    """The owner's endpoint on one memory client, a sender on another, and the replies it saw."""

    broker: MemoryBroker
    owner: Counter
    endpoint: CommandEndpoint
    sender: BusClient
    replies: list[bytes]

    async def send(self, command: str, payload: Any) -> None:
        raw = payload if isinstance(payload, bytes) else dumps(payload)
        await self.sender.publish(TOPICS.cmd("counter", command), raw)
        await self.broker.quiesce()

    def decoded(self) -> list[dict[str, Any]]:
        return [json.loads(r) for r in self.replies]


@contextlib.asynccontextmanager
async def wire(cache_size: int = 1000) -> AsyncIterator[Wire]:
    broker, owner = MemoryBroker(), Counter()
    bus = broker.client("test.counter")

    async def send(payload: bytes) -> None:
        await bus.publish(TOPICS.reply("counter"), payload)

    endpoint = CommandEndpoint(owner.dispatch, send=send, now=lambda: NOW, owner="counter", cache_size=cache_size)
    await bus.subscribe(TOPICS.cmd("counter", "#"), endpoint.on_message)
    replies: list[bytes] = []
    sender = broker.client("test.$controller")

    def on_reply(message: Message) -> None:
        replies.append(message.payload)

    await sender.subscribe(TOPICS.reply("counter"), on_reply)
    async with bus, sender:
        yield Wire(broker, owner, endpoint, sender, replies)


@pytest.fixture
async def w() -> AsyncIterator[Wire]:
    async with wire() as one:
        yield one


async def test_a_repeated_id_gets_the_first_reply_again_and_is_not_applied_twice(w: Wire) -> None:
    await w.send("add", {"id": "c-1", "args": {"n": 2}})
    await w.send("add", {"id": "c-1", "args": {"n": 2}})
    assert w.owner.total == 2
    assert len(w.owner.calls) == 1
    assert len(w.replies) == 2
    assert w.replies[0] == w.replies[1]  # byte for byte, ts included
    assert w.decoded()[0] == {"id": "c-1", "command": "add", "ok": True, "result": {"total": 2}, "ts": NOW}


async def test_the_same_args_in_another_key_order_are_the_same_command(w: Wire) -> None:
    await w.send("add", b'{"id": "c-1", "args": {"n": 1, "why": "x"}}')
    await w.send("add", b'{"args": {"why": "x", "n": 1}, "id": "c-1"}')
    assert len(w.owner.calls) == 1
    assert w.replies[0] == w.replies[1]


async def test_an_id_reused_with_other_args_or_another_command_is_bad_request_and_not_applied(w: Wire) -> None:
    await w.send("add", {"id": "c-1", "args": {"n": 1}})
    await w.send("add", {"id": "c-1", "args": {"n": 5}})
    await w.send("refuse", {"id": "c-1"})
    await w.send("add", {"id": "c-1", "args": {"n": 1}})  # a true retry still gets the first reply
    assert w.owner.total == 1
    assert len(w.owner.calls) == 1
    first, other_args, other_command, retry = w.decoded()
    assert other_args["error"] == {
        "code": "bad_request",
        "message": "id 'c-1' is already used by a 'add' command with other args: a retry repeats a command "
        "unchanged, a new command needs a new id",
    }
    assert (other_args["id"], other_args["command"]) == ("c-1", "add")
    assert other_command["command"] == "refuse"
    assert other_command["error"]["code"] == "bad_request"
    assert "(a different command)" in other_command["error"]["message"]
    assert w.replies[3] == w.replies[0]
    assert retry == first


async def test_commands_without_an_id_are_never_de_duplicated(w: Wire) -> None:
    await w.send("add", {"n": 1})
    await w.send("add", {"n": 1})
    assert w.owner.total == 2
    assert [r["id"] for r in w.decoded()] == [None, None]


async def test_a_refusal_is_answered_with_its_code_and_remembered(w: Wire) -> None:
    await w.send("refuse", {"id": "r-1"})
    await w.send("refuse", {"id": "r-1"})
    await w.send("nope", {"id": "u-1"})
    assert len(w.owner.calls) == 2
    refused, again, unknown = w.decoded()
    assert refused == {
        "id": "r-1",
        "command": "refuse",
        "ok": False,
        "error": {"code": "rejected", "message": "not now"},
        "ts": NOW,
    }
    assert again == refused
    assert unknown["error"] == {"code": "unknown_command", "message": "no command 'nope'"}


async def test_a_crash_is_answered_internal_and_logged(w: Wire, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="hyperhome.broker.commands"):
        await w.send("crash", {"id": "x-1"})
    (reply,) = w.decoded()
    assert reply["error"] == {"code": "internal", "message": "crash failed inside counter"}
    assert "counter: command crash failed" in caplog.text


async def test_no_result_is_an_empty_result(w: Wire) -> None:
    await w.send("nothing", {"id": "n-1"})
    assert w.decoded()[0]["result"] == {}


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"not json", "payload is not JSON"),
        (b"[1, 2]", "payload must be a JSON object, not list"),
        (b'{"id": ["c-1"], "args": {}}', "'id' must be a string"),
        (b'{"args": {"n": 1}, "x": {"id": "inner"}}', "unexpected keys"),
        (b'{"n": ' + b"[" * 1000 + b"]" * 1000 + b"}", "payload is nested deeper than 32 levels"),
    ],
)
async def test_what_is_not_a_command_is_bad_request_with_no_id(w: Wire, payload: bytes, message: str) -> None:
    await w.send("add", payload)
    (reply,) = w.decoded()
    assert (reply["id"], reply["ok"], reply["error"]["code"]) == (None, False, "bad_request")
    assert reply["error"]["message"].startswith(message)
    assert w.owner.calls == []


def _nested(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b'{"id": "c-1", "args": 3}', "'args' must be a JSON object"),
        (b'{"id": "c-1", "args": {}, "extra": 1}', "unexpected keys"),
        (b'{"id": "c-1", "args": {"n": NaN}}', "payload is not JSON: NaN is not a JSON number"),
        (b'{"id": "c-1", "args": {"n": -Infinity}}', "payload is not JSON: -Infinity is not a JSON number"),
        (b'{"id": "c-1", "args": {"n": 1e400}}', "payload has a number out of range"),
        (b'{"id": "c-1", "args": {"n": ' + _nested(1000) + b"}}", "payload is nested deeper than 32 levels"),
        (b'{"args": {"n": ' + _nested(100_000) + b'}, "id": "c-1"}', "payload is nested deeper than 32 levels"),
        (b'{"id": "c-1", "args": {"n": "' + b"x" * 300_000 + b'"}}', "payload is 300032 bytes, more than the 262144"),
    ],
)
async def test_a_refusal_names_the_command_whenever_its_id_is_readable(w: Wire, payload: bytes, message: str) -> None:
    await w.send("add", payload)
    (reply,) = w.decoded()
    assert (reply["id"], reply["ok"], reply["error"]["code"]) == ("c-1", False, "bad_request")
    assert reply["error"]["message"].startswith(message)
    assert w.owner.calls == []
    await w.send("add", {"id": "c-1", "args": {"n": 1}})  # the refusal ran nothing: the id is free for a command
    assert w.owner.total == 1


async def test_the_cache_keeps_the_last_ids_only() -> None:
    async with wire(cache_size=3) as w:
        for n in range(4):
            await w.send("add", {"id": f"c-{n}", "args": {}})
        await w.send("add", {"id": "c-3", "args": {}})  # remembered: not applied again
        assert w.owner.total == 4
        await w.send("add", {"id": "c-0", "args": {}})  # forgotten 1,000 (here 3) commands later
        assert w.owner.total == 5


async def test_a_copy_that_arrives_while_the_first_is_handled_waits_for_its_reply(w: Wire) -> None:
    w.owner.gate = asyncio.Event()
    payload = dumps({"id": "c-1", "args": {"n": 1}})
    first = asyncio.create_task(w.endpoint.handle("add", payload))
    copy = asyncio.create_task(w.endpoint.handle("add", payload))
    await asyncio.sleep(0)
    assert len(w.owner.calls) == 1
    assert not copy.done()
    w.owner.gate.set()
    await asyncio.gather(first, copy)
    await w.broker.quiesce()
    assert w.owner.total == 1
    assert len(w.replies) == 2
    assert w.replies[0] == w.replies[1]


async def test_a_first_copy_cancelled_while_handled_answers_nothing_and_is_forgotten(w: Wire) -> None:
    w.owner.gate = asyncio.Event()
    payload = dumps({"id": "c-1", "args": {"n": 1}})
    first = asyncio.create_task(w.endpoint.handle("add", payload))
    copy = asyncio.create_task(w.endpoint.handle("add", payload))
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.gather(first, copy, return_exceptions=True)
    assert first.cancelled()
    assert copy.done()
    assert not copy.cancelled()
    await w.broker.quiesce()
    assert w.replies == []
    w.owner.gate.set()
    await w.send("add", payload)  # the id was never answered: it is a new command
    assert w.owner.total == 1
    assert len(w.replies) == 1

"""The quiet barrier that lets virtual time jump safely (ARCHITECTURE.md, "Time").

The virtual clock may only jump to its next timer when nothing is in flight: every message that
an in-process client published has reached every in-process subscriber, and every handler has
finished. One *round* proves that through the broker itself:

1. every member (an in-process ``BusClient``) that published since the last round publishes a
   token on ``$sync/{its name}`` after whatever it already queued; the coordinator (the
   ``$clock`` login) waits for all of them (a member that published nothing has nothing in flight).
   MQTT keeps one connection's messages in order, so once the coordinator has a member's token,
   the broker has routed everything that member published before it;
2. the coordinator publishes one token on ``$sync/$clock``; every member handles messages in
   arrival order, so when a member sees it, every message routed to it before has been handled.

``quiesce()`` repeats rounds until a round passes in which no member published anything new.
Each member only reports to this in-process object; the tokens carry nothing but a round number.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from hyperhome.broker.client import BusClient, Endpoint, Message
from hyperhome.broker.credentials import Login
from hyperhome.broker.topics import CLOCK, Topics
from hyperhome.broker.wire import dumps
from hyperhome.errors import ClockError

if TYPE_CHECKING:
    import aiomqtt

log = logging.getLogger(__name__)

_SETTLE_YIELDS = 4
_MAX_ROUNDS = 10_000


class SyncBarrier:
    """Coordinator and member registry of one home's barrier; owned by a VirtualClock."""

    def __init__(self, topics: Topics, endpoint: Endpoint, login: Login, *, round_timeout_s: float = 15.0) -> None:
        self.topics = topics
        self._endpoint = endpoint
        self._login = login
        self._round_timeout_s = round_timeout_s
        self._members: dict[str, BusClient] = {}
        self._coordinator: BusClient | None = None
        self._round = 0
        self._waiting_tokens: set[str] = set()
        self._waiting_acks: set[str] = set()
        self._progress = asyncio.Event()
        self._lock = asyncio.Lock()
        self._dirty: set[str] = set()  # members that published since the last round began
        self.activity = 0
        self.rounds = 0
        self._flushed = -1  # activity count at the start of the last round that saw no new publish

    async def __aenter__(self) -> SyncBarrier:
        coordinator = BusClient(self._endpoint, self._login, client_id=f"{self._login.username}-coordinator")
        await coordinator.__aenter__()
        try:
            await coordinator.subscribe(self.topics.sync("+"), self._on_token)
        except BaseException:
            await coordinator.__aexit__(None, None, None)
            raise
        self._coordinator = coordinator
        return self

    async def __aexit__(self, *exc: object) -> None:
        coordinator, self._coordinator = self._coordinator, None
        if coordinator is not None:
            await coordinator.__aexit__(None, None, None)

    # -- member side (called by BusClient) ---------------------------------------------------
    async def join(self, member: BusClient, client: aiomqtt.Client) -> None:
        await client.subscribe(self.topics.sync(CLOCK), qos=1)
        self._members[member.client_id] = member
        self._flushed = -1

    def leave(self, member: BusClient) -> None:
        self._flushed = -1  # its messages may be lost or late: prove quiet again
        if self._members.pop(member.client_id, None) is not None:
            self._waiting_tokens.discard(member.client_id)
            self._waiting_acks.discard(member.client_id)
            self._progress.set()

    def note_activity(self, member: str | None = None) -> None:
        self.activity += 1
        if member is not None:
            self._dirty.add(member)

    def consume(self, member: BusClient, message: Message) -> bool:
        """Take a ``$sync/$clock`` token off a member's message stream; True if it was one."""
        if message.topic != self.topics.sync(CLOCK):
            return False
        if _round_of(message) == self._round:
            self._waiting_acks.discard(member.client_id)
            self._progress.set()
        return True

    # -- coordinator side ---------------------------------------------------------------------
    def _on_token(self, message: Message) -> None:
        try:
            data = message.json()
        except ValueError:
            return
        if isinstance(data, dict) and data.get("r") == self._round:
            self._waiting_tokens.discard(str(data.get("c")))
            self._progress.set()

    async def _wait_until_empty(self, waiting: set[str], phase: str) -> None:
        try:
            async with asyncio.timeout(self._round_timeout_s):
                while waiting:
                    self._progress.clear()
                    await self._progress.wait()
        except TimeoutError:
            msg = f"virtual-time barrier round {self._round} ({phase}) timed out waiting for {sorted(waiting)}"
            raise ClockError(msg) from None

    async def round(self) -> None:
        """One barrier round (see the module docstring); rounds never overlap."""
        async with self._lock:
            await self._round_locked()

    async def _round_locked(self) -> None:
        coordinator = self._coordinator
        if coordinator is None:
            msg = "the barrier is not started"
            raise ClockError(msg)
        self._round += 1
        self.rounds += 1
        members = dict(self._members)
        # only a member that published since the last round can have messages in flight from it
        dirty, self._dirty = self._dirty, set()
        senders = {cid: m for cid, m in members.items() if cid in dirty}
        self._waiting_tokens = set(senders)
        self._waiting_acks = set(members)
        await asyncio.gather(
            *(
                m.publish_token(self.topics.sync(m.sync_name or "anon"), dumps({"c": cid, "r": self._round}))
                for cid, m in senders.items()
            ),
            return_exceptions=True,
        )
        await self._wait_until_empty(self._waiting_tokens, "tokens")
        await coordinator.publish_token(self.topics.sync(CLOCK), dumps({"r": self._round}))
        await self._wait_until_empty(self._waiting_acks, "acks")

    async def quiesce(self) -> None:
        """Run rounds until one passes with no new publish by any member.

        Only publishes put messages in flight, so when nothing was published since the last
        round that proved the system quiet, no round is needed at all.
        """
        for _ in range(_MAX_ROUNDS):
            for _ in range(_SETTLE_YIELDS):
                await asyncio.sleep(0)
            before = self.activity
            if before == self._flushed:
                return
            if self._members:
                await self.round()
            if self.activity == before:
                self._flushed = before
                return
        msg = f"the system did not go quiet in {_MAX_ROUNDS} barrier rounds (a message feedback loop?)"
        raise ClockError(msg)


def _round_of(message: Message) -> Any:
    try:
        data = message.json()
    except ValueError:
        return None
    return data.get("r") if isinstance(data, dict) else None

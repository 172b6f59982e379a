"""The quiet barrier that lets virtual time jump safely (ARCHITECTURE.md, "Time").

The virtual clock may only jump to its next timer when nothing is in flight: every message that
an in-process client published has reached every in-process subscriber, and every handler has
finished. Two proofs of that, the cheap one first:

*Counted deliveries.* When a member (an in-process ``BusClient``) publishes, the barrier works
out which members will receive the message: those holding a broker-side filter that matches
the topic (``BusClient`` holds a non-overlapping cover, so one copy each), provided the
contract's access control lets the publisher publish there. Each such member reports the
message once its handlers have run. When every expected delivery was reported and nothing else
happened, the system is quiet, with no extra message through the broker. This is what keeps a
camera at 30 fps cheap: one frame, one delivery to the viewer, and the instant is proven.
A member's rights are those of its name (``sync_name``: device id, ``$orchestrator``,
``$controller``), never read from its login. With a broker given by URL
(``count_deliveries=False``) the logins and the access control are the operator's, which the
barrier cannot know: there it proves quiet by rounds only.

*Barrier rounds*, whenever counting cannot tell (a member changing its subscriptions, joining
or leaving, a topic two of a member's filters match, a publish the access control would drop),
or an expected delivery did not come within ``delivery_timeout_s`` (a QoS 0 message the broker
dropped). A round proves quiet through the broker itself:

1. every member that published since the last round publishes a token on ``$sync/{its name}``
   after whatever it already queued; the coordinator (the ``$clock`` login) waits for all of
   them (a member that published nothing has nothing in flight). MQTT keeps one connection's
   messages in order, so once the coordinator has a member's token, the broker has routed
   everything that member published before it;
2. the coordinator publishes one token on ``$sync/$clock``; every member handles messages in
   arrival order, so when a member sees it, every message routed to it before has been handled.

``quiesce()`` repeats proofs until one passes in which no member published anything new.
Each member only reports to this in-process object; the tokens carry nothing but a round number.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from hyperhome.broker.acl import Access, rules_for
from hyperhome.broker.client import BusClient, Endpoint, Message
from hyperhome.broker.credentials import Login, Principal, client_id_of
from hyperhome.broker.filters import within
from hyperhome.broker.topics import CLOCK, Topics
from hyperhome.broker.wire import dumps
from hyperhome.errors import ClockError

if TYPE_CHECKING:
    import aiomqtt

log = logging.getLogger(__name__)

_SETTLE_YIELDS = 4
_MAX_ROUNDS = 10_000
_CACHED_TOPICS = 10_000  # routes and publish rights remembered per topic (then worked out again)
_DeliveryKey = tuple[str, str, bytes]  # (member client id, topic, payload)


class SyncBarrier:
    """Coordinator and member registry of one home's barrier; owned by a VirtualClock."""

    def __init__(
        self,
        topics: Topics,
        endpoint: Endpoint,
        login: Login,
        *,
        round_timeout_s: float = 15.0,
        delivery_timeout_s: float = 0.5,
        count_deliveries: bool = True,
    ) -> None:
        self.topics = topics
        self._count_deliveries = count_deliveries
        self._endpoint = endpoint
        self._login = login
        self._round_timeout_s = round_timeout_s
        self._delivery_timeout_s = delivery_timeout_s
        self._members: dict[str, BusClient] = {}
        self._coordinator: BusClient | None = None
        self._round = 0
        self._waiting_tokens: set[str] = set()
        self._waiting_acks: set[str] = set()
        self._progress = asyncio.Event()
        self._lock = asyncio.Lock()
        self._dirty: set[str] = set()  # members with an uncounted publish since the last round
        self._counted: set[str] = set()  # members with counted publishes since the last round
        self._expected: dict[_DeliveryKey, int] = {}
        self._outstanding = 0  # the sum of _expected
        self._delivered = asyncio.Event()
        self._changing = 0  # members changing their broker-side filters right now
        self._must_round = False  # membership or filters changed since the last round
        self._routes: dict[str, tuple[str, ...] | None] = {}  # topic -> receiving members (None: unknown)
        self._may_publish: dict[tuple[str, str], bool] = {}
        self.activity = 0
        self.rounds = 0
        self.counted_proofs = 0
        """Times quiet was proven by counted deliveries alone."""
        self.delivery_timeouts = 0
        """Times an expected delivery did not come in time (a round proved quiet instead)."""
        self._flushed = -1  # activity count at the start of the last proof that saw no new publish

    async def __aenter__(self) -> SyncBarrier:
        coordinator = BusClient(self._endpoint, self._login, client_id=client_id_of(self.topics.home, CLOCK))
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
        self._routes.clear()
        self._force_round()

    def leave(self, member: BusClient) -> None:
        self._force_round()  # its messages may be lost or late: prove quiet again
        self._routes.clear()
        if self._members.pop(member.client_id, None) is not None:
            self._waiting_tokens.discard(member.client_id)
            self._waiting_acks.discard(member.client_id)
            self._progress.set()
            self._drop_expected(member.client_id)

    def note_activity(self, member: str | None = None) -> None:
        """A publish the barrier cannot count: only a round proves it was handled."""
        self.activity += 1
        if member is not None:
            self._dirty.add(member)

    def note_publish(self, member: BusClient, topic: str, payload: bytes) -> None:
        """``member`` is about to publish: expect one delivery per member that will receive it."""
        recipients = None if self._changing else self._recipients(member, topic)
        if recipients is None:
            self.note_activity(member.client_id)
            return
        self.activity += 1
        self._counted.add(member.client_id)
        for client_id in recipients:
            key = (client_id, topic, payload)
            self._expected[key] = self._expected.get(key, 0) + 1
            self._outstanding += 1

    def delivered(self, member: BusClient, message: Message) -> None:
        """``member`` has handled ``message`` (called after its handlers ran)."""
        if not self._outstanding:
            return
        key = (member.client_id, message.topic, message.payload)
        left = self._expected.get(key)
        if not left:
            return
        if left == 1:
            del self._expected[key]
        else:
            self._expected[key] = left - 1
        self._outstanding -= 1
        if not self._outstanding:
            self._delivered.set()

    @contextlib.contextmanager
    def changing_filters(self) -> Iterator[None]:
        """Around a member's change of its broker-side filters: nothing is counted meanwhile."""
        self.begin_filter_change()
        try:
            yield
        finally:
            self.end_filter_change()

    def begin_filter_change(self) -> None:
        """A member starts changing its broker-side filters (``changing_filters``, split in two
        for a change that finishes in the background)."""
        self._changing += 1

    def end_filter_change(self) -> None:
        self._changing -= 1
        self._routes.clear()
        self._force_round()

    def consume(self, member: BusClient, message: Message) -> bool:
        """Take a ``$sync/$clock`` token off a member's message stream; True if it was one."""
        if message.topic != self.topics.sync(CLOCK):
            return False
        if _round_of(message) == self._round:
            self._waiting_acks.discard(member.client_id)
            self._progress.set()
        return True

    # -- counting ------------------------------------------------------------------------------
    def _recipients(self, publisher: BusClient, topic: str) -> tuple[str, ...] | None:
        if not self._allowed(publisher, topic):
            return None
        if topic not in self._routes:
            if len(self._routes) >= _CACHED_TOPICS:
                self._routes.clear()
            self._routes[topic] = self._route(topic)
        return self._routes[topic]

    def _route(self, topic: str) -> tuple[str, ...] | None:
        receivers = []
        for client_id, member in self._members.items():
            matching = sum(1 for held in member.broker_filters if within(topic, held))
            if matching > 1:
                return None  # the broker may send one copy per matching filter, or one in all
            if matching:
                receivers.append(client_id)
        return tuple(receivers)

    def _allowed(self, publisher: BusClient, topic: str) -> bool:
        """Whether the contract's access control lets ``publisher`` publish to ``topic``
        (False when the broker's access control is not the contract's: nothing is counted)."""
        if not self._count_deliveries or publisher.sync_name is None:
            return False
        key = (publisher.sync_name, topic)
        allowed = self._may_publish.get(key)
        if allowed is None:
            principal = Principal.named(self.topics.home, publisher.sync_name)
            allowed = principal is not None and any(
                rule.access is Access.PUBLISH and within(topic, rule.pattern)
                for rule in rules_for(principal, self.topics.root)
            )
            if len(self._may_publish) >= _CACHED_TOPICS:
                self._may_publish.clear()
            self._may_publish[key] = allowed
        return allowed

    def _drop_expected(self, client_id: str) -> None:
        for key in [k for k in self._expected if k[0] == client_id]:
            self._outstanding -= self._expected.pop(key)
        if not self._outstanding:
            self._delivered.set()

    def _forget_expected(self) -> None:
        """After a round that saw no new publish: whatever is still expected was lost."""
        self._expected.clear()
        self._outstanding = 0
        self._delivered.set()

    async def _deliveries_handled(self) -> bool:
        """Wait until every expected delivery was handled; False if one did not come in time."""
        try:
            async with asyncio.timeout(self._delivery_timeout_s):
                while self._outstanding:
                    self._delivered.clear()
                    await self._delivered.wait()
        except TimeoutError:
            self.delivery_timeouts += 1
            log.debug(
                "%d expected deliveries missing after %s s; proving quiet by a round",
                self._outstanding,
                self._delivery_timeout_s,
            )
            return False
        return True

    def _force_round(self) -> None:
        self._must_round = True
        self._flushed = -1

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
        self._must_round = False
        members = dict(self._members)
        # only a member that published since the last round can have messages in flight from it
        dirty = self._dirty | self._counted
        self._dirty, self._counted = set(), set()
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
        """Prove quiet until a proof passes with no new publish by any member.

        Only publishes put messages in flight, so when nothing was published since the last
        proof that found the system quiet, none is needed at all.
        """
        for _ in range(_MAX_ROUNDS):
            for _ in range(_SETTLE_YIELDS):
                await asyncio.sleep(0)
            before = self.activity
            if before == self._flushed:
                return
            if self._can_count() and await self._deliveries_handled():
                if self.activity == before:
                    self.counted_proofs += 1
                    self._counted.clear()
                    self._flushed = before
                    return
                continue
            if self._members:
                await self.round()
            if self.activity == before:
                self._forget_expected()
                self._flushed = before
                return
        msg = f"the system did not go quiet in {_MAX_ROUNDS} barrier rounds (a message feedback loop?)"
        raise ClockError(msg)

    def _can_count(self) -> bool:
        return bool(self._members) and not (self._dirty or self._must_round or self._changing)


def _round_of(message: Message) -> Any:
    try:
        data = message.json()
    except ValueError:
        return None
    return data.get("r") if isinstance(data, dict) else None

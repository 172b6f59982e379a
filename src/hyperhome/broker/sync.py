"""The quiet barrier that lets virtual time jump safely, and the order of one instant
(ARCHITECTURE.md, "Time"; docs/protocol.md, "Virtual time").

The virtual clock may only jump to its next timer when nothing is in flight: every message that
an in-process client published has reached every in-process subscriber, and every handler has
finished. And what happens at one simulated instant must happen in one defined order, whatever
the broker, the network and the machine's load, so that a scenario gives the same trace on
every run and on both brokers.

*The order of an instant.* In virtual time a member (an in-process ``BusClient``) does not run
its handlers when a message arrives: it hands the message to the barrier, and the barrier
releases what has arrived in *waves*. Every publish is stamped when it is made with its key:
``(wave, publisher, n)``, the wave being the number of releases so far, the publisher the
member's name (a device id, ``$orchestrator``, ``$controller``) and ``n`` the publisher's own
count. A release takes every message that has arrived (only once every message published so far
has been proven to have arrived, see below), sorts them by key (then receiver), and runs their
handlers one message at a time; after each message it lets what that message woke up (tasks,
flows, the scenario runner) run until they wait again. What those handlers and tasks publish
is stamped with the next wave. So the order is causal (a message is handled after the one that
caused it), then by publisher and the publisher's order (MQTT's per-connection order), then by
receiver; messages the barrier did not see published (retained copies on subscribe, outside
clients) come first in their release, by topic and payload. A publish never
waits for the broker's acknowledgement in virtual time (``BusClient.publish``): a handler that
resumed whenever a PUBACK came back would put the network's order into the instant.

*Proof of arrival*, the cheap one first:

- *Counted deliveries.* When a member publishes, the barrier works out which members will
  receive the message: those holding a broker-side filter that matches the topic (``BusClient``
  holds a non-overlapping cover, so one copy each), provided the contract's access control lets
  the publisher publish there. When every expected delivery has arrived and nothing else
  happened, the wave is complete, with no extra message through the broker. This is what keeps
  a camera at 30 fps cheap: one frame, one delivery to the viewer. A member's rights are those
  of its name (the one in its client id: device id, ``$orchestrator``, ``$controller``; see
  ``SyncBarrier.name_of``), never read from its login, so they hold with the operator's logins
  on a broker given by URL too: a broker that drops what the contract allows only costs a round
  after ``delivery_timeout_s``.
- *Barrier rounds*, whenever counting cannot tell (a member changing its subscriptions, joining
  or leaving, a topic two of a member's filters match, a publish the access control would drop),
  or an expected delivery did not come within ``delivery_timeout_s`` (a QoS 0 message the
  broker dropped). A round proves arrival through the broker itself:

  1. every member that published since the last round publishes a token on ``$sync/{its name}``
     after whatever it already queued; the coordinator (the ``$clock`` login) waits for all of
     them (a member that published nothing has nothing in flight). MQTT keeps one connection's
     messages in order, so once the coordinator has a member's token, the broker has routed
     everything that member published before it;
  2. the coordinator publishes one token on ``$sync/$clock``; each member reads its messages
     in order, so when a member reads it, every message routed to it before has arrived.

Between waves the barrier also waits, bounded by ``round_timeout_s``, until no member is
changing its broker-side filters (a SUBACK on its way) and no member that lost its connection
is still away, so neither a subscription nor a reconnect races the instant. A member that loses
its connection unexpectedly has its last will published by the broker: the barrier expects it
like a publish of that member. ``quiesce()`` repeats proofs and releases until a proof passes
in which nothing new was published and nothing is left to release.

*Link faults in virtual time* (``use_links``; ``broker/faults/links.py``): a message that crosses
a device's link with a latency or a stall is kept by the barrier after it arrived and released
when the link would have delivered it, in simulated time (a passive timer of the clock). A device
cut off by a partition (``cut_off``) is not waited for: time moves on without it until the
partition heals (``restore``), and then it is waited for like any member that is away.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from hyperhome.broker.acl import Access, rules_for
from hyperhome.broker.client import BusClient, Member, Message, Transport
from hyperhome.broker.credentials import Login, Principal, client_id_of
from hyperhome.broker.filters import within
from hyperhome.broker.topics import CLOCK, CONTROLLER, Topics
from hyperhome.broker.wire import dumps
from hyperhome.errors import ClockError, NotConnectedError

if TYPE_CHECKING:
    from hyperhome.broker.faults.links import LinkModel, Passage

log = logging.getLogger(__name__)

_SETTLE_YIELDS = 4
_MAX_ROUNDS = 100_000
_ROUND_ATTEMPTS = 10  # a round run again after its coordinator reconnected
_CACHED_TOPICS = 10_000  # routes and publish rights remembered per topic (then worked out again)
_UNSEEN = ""  # the publisher of a message the barrier did not see published: before every name
_DeliveryKey = tuple[str, str, bytes]  # (member client id, topic, payload)
Key = tuple[int, str, int]
"""A publish's place in the order of its instant: (wave, publisher, the publisher's count)."""
_Slot = tuple[int, str, int, str, bytes, str, int]  # a key, then topic, payload, receiver, arrival


class Timers(Protocol):
    """Simulated time, as the barrier needs it to play links (a ``VirtualClock``)."""

    def now(self) -> float: ...

    def call_at(self, when: float, callback: Callable[[], Any]) -> Any: ...


class SyncBarrier:
    """Coordinator and member registry of one home's barrier; owned by a VirtualClock.

    It is the ``BusObserver`` (broker/client.py) of every in-process connection of the home, and
    its coordinator is one more ``BusClient``, through ``transport`` under the ``$clock`` login.
    """

    def __init__(
        self,
        topics: Topics,
        transport: Transport,
        login: Login,
        *,
        round_timeout_s: float = 15.0,
        delivery_timeout_s: float = 0.5,
        count_deliveries: bool = True,
    ) -> None:
        self.topics = topics
        self._count_deliveries = count_deliveries
        self._transport = transport
        self._login = login
        self._round_timeout_s = round_timeout_s
        self._delivery_timeout_s = delivery_timeout_s
        self._members: dict[str, Member] = {}
        self._names: dict[str, str | None] = {}  # client id -> the member's name (None: not one of the home's)
        self._coordinator: BusClient | None = None
        self._round = 0
        self._waiting_tokens: set[str] = set()
        self._waiting_acks: set[str] = set()
        self._progress = asyncio.Event()
        self._lock = asyncio.Lock()
        self._dirty: set[str] = set()  # members with an uncounted publish since the last round
        self._counted: set[str] = set()  # members with counted publishes since the last round
        self._expected: dict[_DeliveryKey, deque[Key]] = {}
        self._outstanding = 0  # how many expected deliveries have not arrived
        self._floating: dict[tuple[str, bytes], list[Key]] = {}  # keys of publishes with unknown routes
        self._floated: dict[_DeliveryKey, int] = {}
        self._delivered = asyncio.Event()
        self._changing = 0  # members changing their broker-side filters right now
        self._away: dict[str, Member] = {}  # members that lost their connection, until they are back
        self._changed = asyncio.Event()  # a filter change ended or a member came back
        self._must_round = False  # membership or filters changed since the last round
        self._routes: dict[str, tuple[str, ...] | None] = {}  # topic -> receiving members (None: unknown)
        self._may_publish: dict[tuple[str, str], bool] = {}
        self._wave = 0
        self._counts: dict[str, int] = {}  # publisher -> publishes so far
        self._inbox: list[tuple[_Slot, Member, Message]] = []
        self._arrivals = 0
        self._wake: Callable[[], None] = _nothing
        self._quiescing = asyncio.Lock()
        self.activity = 0
        self.rounds = 0
        self.waves = 0
        """Releases of arrived messages so far."""
        self.counted_proofs = 0
        """Times arrival was proven by counted deliveries alone."""
        self.delivery_timeouts = 0
        """Times an expected delivery did not come in time (a round proved arrival instead)."""
        self._flushed = -1  # activity count at the start of the last proof that saw no new publish
        self._links: LinkModel | None = None
        self._timers: Timers | None = None
        self._held: list[tuple[Passage, _Slot, Member, Message]] = []  # arrived, not yet due
        self._held_timer: Any = None
        self._held_at = math.inf
        self._broker_keys: set[Key] = set()  # keys of last wills: the broker publishes those
        self._cut_names: set[str] = set()  # members cut off by a partition: not waited for
        self._cut: dict[str, Member] = {}

    async def __aenter__(self) -> SyncBarrier:
        coordinator = BusClient(
            self._transport,
            self._login,
            client_id=client_id_of(self.topics.home, CLOCK),
            on_connect=self._coordinator_connected,
        )
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

    # -- member side (BusObserver: called by BusClient) -----------------------------------------
    def name_of(self, member: Member) -> str | None:
        """``member``'s name in the instant's order and for its rights: the one in its client id
        (``{home}.{name}``, ``credentials.client_id_of``; a controller's ``$controller-...`` is
        ``$controller``), never read from its login, so it holds with an operator's logins on a
        broker given by URL too. None for a client id that is not one of the home's."""
        client_id = member.client_id
        if client_id in self._names:
            return self._names[client_id]
        home, sep, name = client_id.partition(".")
        found: str | None = None
        if sep and home == self.topics.home:
            principal = Principal.named(home, name)
            if principal is not None:
                found = principal.name
            elif name.startswith(f"{CONTROLLER}-"):
                found = CONTROLLER
        if len(self._names) >= _CACHED_TOPICS:
            self._names.clear()
        self._names[client_id] = found
        return found

    def _name(self, member: Member) -> str:
        return self.name_of(member) or member.client_id

    async def join(self, member: Member) -> None:
        try:
            await member.hold(self.topics.sync(CLOCK), timeout_s=self._round_timeout_s)
        except NotConnectedError as exc:
            msg = f"{member.client_id} could not join the virtual-time barrier: {exc}"
            raise NotConnectedError(msg) from None
        self._members[member.client_id] = member
        self._cut.pop(member.client_id, None)
        if self._away.pop(member.client_id, None) is not None:
            self._changed.set()
        self._routes.clear()
        self._force_round()

    def leave(self, member: Member, *, lost: bool = False) -> None:
        """``member`` has no connection any more; ``lost``: not by its own choice (it will be back,
        and the broker publishes its last will)."""
        self._force_round()  # its messages may be lost or late: prove arrival again
        self._routes.clear()
        # what it had read but not yet handled is gone with the connection, as on a real device
        self._inbox = [item for item in self._inbox if item[1] is not member]
        if self._held:
            self._drop_held(member, lost=lost)
        if lost and member.client_id in self._members:
            if self._name(member) in self._cut_names:
                self._cut[member.client_id] = member
            else:
                self._away[member.client_id] = member
            will = member.will
            if will is not None and member.client_id in self._members:
                self._note_publish(member, will.topic, will.payload, routed_without=member.client_id)
        if self._members.pop(member.client_id, None) is not None:
            self._waiting_tokens.discard(member.client_id)
            self._waiting_acks.discard(member.client_id)
            self._progress.set()
            self._drop_expected(member.client_id)
        if not lost:
            self._cut.pop(member.client_id, None)
            if self._away.pop(member.client_id, None) is not None:
                self._changed.set()

    def note_activity(self, member: str | None = None) -> None:
        """A publish the barrier cannot count: only a round proves it has arrived."""
        self.activity += 1
        if member is not None:
            self._dirty.add(member)

    def published(self, member: Member, topic: str, payload: bytes) -> None:
        """``member`` is about to publish: stamp it with its key and expect one delivery per member
        that will receive it."""
        self._note_publish(member, topic, payload)

    def _note_publish(self, member: Member, topic: str, payload: bytes, *, routed_without: str | None = None) -> None:
        """``published``; ``routed_without``: not to that member, whose last will this is."""
        name = self._name(member)
        count = self._counts.get(name, 0)
        self._counts[name] = count + 1
        key: Key = (self._wave, name, count)
        recipients = None if self._changing else self._recipients(member, topic)
        if recipients is None:
            self.note_activity(member.client_id)
            self._floating.setdefault((topic, payload), []).append(key)
            if routed_without is not None and self._links is not None:
                self._broker_keys.add(key)
            return
        self.activity += 1
        if routed_without is None:
            self._counted.add(member.client_id)
        elif self._links is not None:
            self._broker_keys.add(key)
        for client_id in recipients:
            if client_id == routed_without:
                continue
            self._expected.setdefault((client_id, topic, payload), deque()).append(key)
            self._outstanding += 1

    def arrived(self, member: Member, message: Message) -> None:
        """``member`` has read ``message`` off its connection: keep it for its release."""
        if message.topic == self.topics.sync(CLOCK):
            if _round_of(message) == self._round:
                self._waiting_acks.discard(member.client_id)
                self._progress.set()
            return
        delivery = (member.client_id, message.topic, message.payload)
        keys = self._expected.get(delivery)
        if keys:
            key = keys.popleft()
            if not keys:
                del self._expected[delivery]
            self._outstanding -= 1
            if not self._outstanding:
                self._delivered.set()
            topic_part, payload_part = message.topic, b""
        else:
            # a retained copy is the broker's answer to a subscription, not a delivery of the publish
            # whose payload it may repeat: it sorts with what the barrier did not see published
            floating = None if message.retain else self._floating.get((message.topic, message.payload))
            if floating:
                used = self._floated.get(delivery, 0)
                self._floated[delivery] = used + 1
                key = floating[min(used, len(floating) - 1)]
                topic_part, payload_part = message.topic, b""
            else:  # not published by a member (a retained copy, an outside client)
                key = (self._wave, _UNSEEN, 0)
                topic_part, payload_part = message.topic, message.payload
        self._arrivals += 1
        receiver = self._name(member)
        slot: _Slot = (*key, topic_part, payload_part, receiver, self._arrivals)
        if self._links is not None and self._hold(key, slot, member, message):
            return
        self._inbox.append((slot, member, message))
        if len(self._inbox) == 1:
            self._wake()

    # -- links in simulated time ---------------------------------------------------------------------
    def use_links(self, links: LinkModel, timers: Timers) -> None:
        """Play ``links`` (latency, stalls) in the simulated time of ``timers``; see the module docstring."""
        self._links = links
        self._timers = timers

    def links_changed(self) -> None:
        """A link's latency or stall changed: release what is due now, and wake up for the rest."""
        self._release_due()

    def cut_off(self, name: str) -> None:
        """From now on, ``name`` losing its connection is not waited for (a partition)."""
        self._cut_names.add(name)
        for client_id, member in list(self._away.items()):
            if self._name(member) == name:
                self._cut[client_id] = self._away.pop(client_id)
        self._changed.set()

    def restore(self, name: str) -> None:
        """The partition of ``name`` healed: wait for it to reconnect again, as for any member away."""
        self._cut_names.discard(name)
        for client_id, member in list(self._cut.items()):
            if self._name(member) == name:
                self._away[client_id] = self._cut.pop(client_id)
        self._force_round()

    @property
    def held(self) -> int:
        """Messages that arrived and wait for their link to deliver them (simulated time)."""
        return len(self._held)

    def _hold(self, key: Key, slot: _Slot, member: Member, message: Message) -> bool:
        links, timers = self._links, self._timers
        assert links is not None
        assert timers is not None
        publisher = None if key[1] == _UNSEEN or key in self._broker_keys else key[1]
        receiver = self._name(member)
        if not links.affects(publisher, receiver):
            return False
        passage = links.passage(timers.now(), publisher, receiver)
        if links.due(passage) <= timers.now():
            return False
        self._held.append((passage, slot, member, message))
        self._arm_held_timer()
        return True

    def _release_due(self) -> None:
        links, timers = self._links, self._timers
        if links is None or timers is None or not self._held:
            return
        now = timers.now()
        kept: list[tuple[Passage, _Slot, Member, Message]] = []
        due: list[tuple[_Slot, Member, Message]] = []
        for passage, slot, member, message in self._held:
            if links.due(passage) <= now:
                due.append((slot, member, message))
            else:
                kept.append((passage, slot, member, message))
        self._held = kept
        if due:
            self._inbox.extend(due)
            self._wake()
        self._arm_held_timer()

    def _arm_held_timer(self) -> None:
        links, timers = self._links, self._timers
        assert links is not None
        assert timers is not None
        when = min((links.due(item[0]) for item in self._held), default=math.inf)
        if when == self._held_at:
            return
        if self._held_timer is not None:
            self._held_timer.cancel()
            self._held_timer = None
        self._held_at = when
        if when != math.inf:
            self._held_timer = timers.call_at(when, self._on_held_due)

    def _on_held_due(self) -> None:
        self._held_timer = None
        self._held_at = math.inf
        self._release_due()

    def _drop_held(self, member: Member, *, lost: bool) -> None:
        """What ``member`` would have read is gone with its connection, and when the link broke
        (``lost``), so is what it sent that had not yet left its link."""
        links, timers = self._links, self._timers
        assert links is not None
        assert timers is not None
        name, now = self._name(member), timers.now()

        def gone(item: tuple[Passage, _Slot, Member, Message]) -> bool:
            passage = item[0]
            return item[2] is member or (lost and passage.publisher == name and links.left_at(passage) > now)

        self._held = [item for item in self._held if not gone(item)]
        self._arm_held_timer()

    def attach(self, wake: Callable[[], None]) -> None:
        """The clock's ``wake``: called when a message arrives for release (the clock then quiesces)."""
        self._wake = wake

    def filters_changing(self) -> None:
        """A member starts changing its broker-side filters: nothing is counted until it is done."""
        self._changing += 1

    def filters_changed(self) -> None:
        self._changing -= 1
        self._routes.clear()
        self._force_round()
        self._changed.set()

    # -- counting ------------------------------------------------------------------------------
    def _recipients(self, publisher: Member, topic: str) -> tuple[str, ...] | None:
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

    def _allowed(self, publisher: Member, topic: str) -> bool:
        """Whether the contract's access control lets ``publisher`` publish to ``topic``
        (False when the broker's access control is not the contract's: nothing is counted)."""
        name = self.name_of(publisher)
        if not self._count_deliveries or name is None:
            return False
        key = (name, topic)
        allowed = self._may_publish.get(key)
        if allowed is None:
            principal = Principal.named(self.topics.home, name)
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
            self._outstanding -= len(self._expected.pop(key))
        if not self._outstanding:
            self._delivered.set()

    def _forget_expected(self) -> None:
        """After a round that saw no new publish: whatever is still expected was lost."""
        self._expected.clear()
        self._outstanding = 0
        self._floating.clear()
        self._floated.clear()
        self._broker_keys.clear()
        self._delivered.set()

    async def _deliveries_arrived(self) -> bool:
        """Wait until every expected delivery has arrived; False if one did not come in time."""
        try:
            async with asyncio.timeout(self._delivery_timeout_s):
                while self._outstanding:
                    self._delivered.clear()
                    await self._delivered.wait()
        except TimeoutError:
            self.delivery_timeouts += 1
            log.debug(
                "%d expected deliveries missing after %s s; proving arrival by a round",
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

    async def _coordinator_connected(self) -> None:
        """The coordinator (re)connected (after a broker restart, say): a round it missed part of
        is run again, and so is the next proof."""
        self._force_round()
        self._progress.set()

    async def _wait_until_empty(self, waiting: set[str], phase: str, coordinator: BusClient, connects: int) -> None:
        try:
            async with asyncio.timeout(self._round_timeout_s):
                while waiting:
                    if coordinator.connects != connects:
                        raise _RoundLost
                    self._progress.clear()
                    await self._progress.wait()
        except TimeoutError:
            msg = f"virtual-time barrier round {self._round} ({phase}) timed out waiting for {sorted(waiting)}"
            raise ClockError(msg) from None

    async def round(self) -> None:
        """One barrier round (see the module docstring); rounds never overlap.

        The coordinator's own connection counts too: a round waits until it is connected (after a
        broker restart its clients come back in any order), and one during which it reconnected
        lost the tokens sent meanwhile and is run again.
        """
        async with self._lock:
            for _ in range(_ROUND_ATTEMPTS):
                try:
                    await self._round_locked()
                except _RoundLost:
                    continue
                return
            msg = f"virtual-time barrier round {self._round}: its coordinator kept losing its connection"
            raise ClockError(msg)

    async def _round_locked(self) -> None:
        coordinator = self._coordinator
        if coordinator is None:
            msg = "the barrier is not started"
            raise ClockError(msg)
        try:
            await coordinator.wait_connected(self._round_timeout_s)
        except TimeoutError:
            msg = f"virtual time waited {self._round_timeout_s} s for its coordinator to reconnect"
            raise ClockError(msg) from None
        connects = coordinator.connects
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
            *(m.publish_token(self._token_topic(m), dumps({"c": cid, "r": self._round})) for cid, m in senders.items()),
            return_exceptions=True,
        )
        try:
            await self._wait_until_empty(self._waiting_tokens, "tokens", coordinator, connects)
            await coordinator.publish_token(self.topics.sync(CLOCK), dumps({"r": self._round}))
            await self._wait_until_empty(self._waiting_acks, "acks", coordinator, connects)
        except _RoundLost:
            self._dirty |= dirty  # their tokens may be lost: they send again in the next attempt
            self._must_round = True
            raise

    def _token_topic(self, member: Member) -> str:
        """Where ``member`` may publish its token: ``$sync/{its login's name}`` in the contract."""
        principal = Principal.from_username(member.username)
        return self.topics.sync(principal.name if principal is not None else self.name_of(member) or "anon")

    # -- waves -----------------------------------------------------------------------------------
    async def _settle(self) -> None:
        """Let what the last message woke run until it waits again: no filter change under way,
        no member away, and a few turns of the loop in which nothing new was published."""
        while True:
            before = self.activity
            for _ in range(_SETTLE_YIELDS):
                await asyncio.sleep(0)
            if self._changing or self._away:
                await self._wait_changed()
                continue
            if self.activity == before:
                return

    async def _wait_changed(self) -> None:
        self._changed.clear()
        try:
            async with asyncio.timeout(self._round_timeout_s):
                while self._changing or self._away:
                    await self._changed.wait()
                    self._changed.clear()
        except TimeoutError:
            if self._away:
                msg = f"virtual time waited {self._round_timeout_s} s for {sorted(self._away)} to reconnect"
            else:
                msg = f"virtual time waited {self._round_timeout_s} s for a subscription to be acknowledged"
            raise ClockError(msg) from None

    async def _release(self) -> None:
        """Hand every arrived message to its member's handlers, in the instant's order."""
        batch, self._inbox = self._inbox, []
        batch.sort(key=lambda item: item[0])
        self._wave += 1
        self.waves += 1
        for _, member, message in batch:
            await member.handle(message)
            await self._settle()

    async def quiesce(self) -> None:
        """Prove arrival and release waves until a proof passes with no new publish by any
        member and nothing left to release.

        Only publishes put messages in flight, so when nothing was published since the last
        proof that found the system quiet, none is needed at all.
        """
        async with self._quiescing:
            await self._quiesce()

    async def _quiesce(self) -> None:
        for _ in range(_MAX_ROUNDS):
            await self._settle()
            before = self.activity
            if before == self._flushed and not self._inbox:
                return
            if self._can_count() and await self._deliveries_arrived():
                if self.activity != before:
                    continue
                self.counted_proofs += 1
                self._counted.clear()
            else:
                if self._members:
                    await self.round()
                if self.activity != before:
                    continue
                self._forget_expected()
            if self._inbox:
                await self._release()
                continue
            self._flushed = before
            return
        msg = f"the system did not go quiet in {_MAX_ROUNDS} barrier proofs (a message feedback loop?)"
        raise ClockError(msg)

    def _can_count(self) -> bool:
        return (
            self._count_deliveries and bool(self._members) and not (self._dirty or self._must_round or self._changing)
        )


class _RoundLost(Exception):
    """The coordinator reconnected during a round: tokens sent meanwhile may be lost."""


def _nothing() -> None:
    pass


def _round_of(message: Message) -> Any:
    try:
        data = message.json()
    except ValueError:
        return None
    return data.get("r") if isinstance(data, dict) else None

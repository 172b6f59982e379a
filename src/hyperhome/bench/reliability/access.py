"""The ACL matrix and the bad logins: everything the access-control table forbids, tried by every login.

Two homes share one broker (the embedded amqtt or a managed Mosquitto), started with both homes'
logins and the one rule table (``hyperhome.broker.acl``) as ``hyperhome up`` starts it: the demo
home (or its first ``devices`` devices) and a second home, ``neighbour``, with the same device
ids. Every login of both homes (each device, the orchestrator, the controller, the clock) holds
one connection with its own client id. What a login must not do is not listed here: the
candidates are every topic class of both homes (``topic_classes``: each device's and the
orchestrator's ``$meta``, ``$availability``, ``state``, ``reply``, ``event/…``, ``cmd/…``,
``stream/…``, a flow, every ``$sync`` name) and every filter over them (``filter_classes``: those
topics, then each subtree and each class with wildcards, up to ``#``), and the rule table
(``Policy``) says which of them each login may not publish, subscribe to, or read.

- **forged publishes**: each login publishes a forged payload on every candidate topic it may not
  publish (retained where the contract's topic is), then a control message on one it may. A
  witness per home (a controller connection: it reads its whole home) records what arrives.
  Leaked: forged payloads a witness received. "Nothing arrived" is closed by the controls and
  then by each witness's own echo: by then the broker has routed everything sent before.
- **forbidden subscriptions**: retained bait on every retained topic of both homes; each login
  subscribes to every candidate filter it may not (amqtt refuses in the SUBACK; Mosquitto's
  ``acl_file`` grants subscriptions and filters each delivery); live bait on every topic of both
  homes; then a fence to each login on a topic it may read. Leaked: messages a login received on
  a topic it may not read. A filter counts as refused when its SUBACK failed or nothing it
  matches that the login may not read came through; only filters that some bait could leak
  through are tried.
- **bad logins**: every login with a wrong password, with no password, with the password of the
  same login of the other home and with another login's password of its own home; unknown
  users; an anonymous client. Leaked: connections the broker accepted.

No device process runs on these logins: a client id belongs to its login (docs/protocol.md) and a
second connection with it closes the first. What that does to a running device is the takeover
matrix's question (``takeover.py``), not this one's.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

import aiomqtt

from hyperhome.bench.reliability.rows import Row
from hyperhome.bench.report import BenchError
from hyperhome.broker.acl import Policy
from hyperhome.broker.credentials import HomeCredentials, Login, Principal, Role, controller_seats
from hyperhome.broker.filters import within
from hyperhome.broker.identity import bound_client_id
from hyperhome.broker.launch import BrokerChoice, open_broker
from hyperhome.broker.topics import CLOCK, CONTROLLER, ORCHESTRATOR, SYNC, Topics
from hyperhome.home.homefile import load_home

SECOND_HOME = "neighbour"
PROBE = "probe"
"""The name after ``event/``, ``cmd/``, ``stream/`` and ``flow/`` in the candidate topics."""
WAIT_S = 10.0
"""Bound on every wait for the broker (a connect, an acknowledgement, a control message)."""
SUBSCRIBE_CHUNK = 32
"""Filters per SUBSCRIBE packet (each gets its own return code in the SUBACK)."""
SUBACK_FAILURE = 0x80
RETAINED_KINDS = frozenset({"$meta", "$availability", "state", "flow"})
"""The contract's retained topics: a forged copy there would be read by every later subscriber."""

NODELAY = (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
"""Small packets, one at a time: without it Nagle and delayed ACKs add 40 ms to every round trip."""

FORGED = b"hyperhome-reliability forged "
BAIT = b"hyperhome-reliability bait "
CONTROL = b"hyperhome-reliability control "
FENCE = b"hyperhome-reliability fence "


# -- the candidates -----------------------------------------------------------------------------
def topic_classes(topics: Topics, devices: Iterable[str]) -> list[str]:
    """One topic of every class of the home: each device's and the orchestrator's, a flow, every
    ``$sync`` name and one level below them."""
    names = [*devices, ORCHESTRATOR]
    out: list[str] = []
    for name in names:
        out += [
            topics.meta(name),
            topics.availability(name),
            topics.state(name),
            topics.reply(name),
            topics.event(name, PROBE),
            topics.cmd(name, PROBE),
            topics.stream(name, PROBE),
        ]
    out.append(topics.flow(PROBE))
    out += [topics.sync(name) for name in [*names, CONTROLLER, CLOCK]]
    out.append(f"{topics.sync(CLOCK)}/{PROBE}")  # below a $sync name: what only $sync/# would read
    return out


def filter_classes(topics: Topics, devices: Iterable[str]) -> list[str]:
    """Every candidate topic as a filter, each subtree and class with wildcards, the whole home."""
    names = [*devices, ORCHESTRATOR]
    out = topic_classes(topics, names[:-1])
    for name in names:
        subtree = topics.device(name)
        out += [f"{subtree}/#", f"{subtree}/+", f"{subtree}/event/#", f"{subtree}/cmd/#", f"{subtree}/stream/#"]
    kinds = ("$meta", "$availability", "state", "reply", "event", "cmd", "stream", "flow")
    out += [topics.all_of(kind) for kind in kinds]
    out += [f"{topics.base}/+/+", f"{topics.base}/+/#", topics.everything, f"{topics.base}/{SYNC}/+"]
    out.append(f"{topics.base}/{SYNC}/#")
    return out


def global_filters(root: str) -> list[str]:
    """Filters across homes: the whole broker, the whole root, one class in every home."""
    return ["#", "+/#", f"{root}/#", f"{root}/+/#", f"{root}/+/+/state", f"{root}/+/+/cmd/#", "+/+/+/+"]


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def home_logins(devices: int | None = None) -> list[HomeCredentials]:
    """Fresh logins of the demo home (its first ``devices`` devices) and of the second home."""
    ids = [spec.id for spec in load_home("demo").devices]
    ids = ids if devices is None else ids[:devices]
    return [HomeCredentials.generate(home, ids) for home in ("demo", SECOND_HOME)]


def policy_for(homes: list[HomeCredentials]) -> Policy:
    """The rule table's decisions for every login of ``homes`` (what the brokers enforce)."""
    policy = Policy(homes[0].root)
    for creds in homes:
        for login, principal in creds.logins():
            policy.add(login.username, principal, creds.root)
    return policy


def probed_logins(creds: HomeCredentials) -> list[tuple[Login, Principal]]:
    """The logins the matrix tries: every one but the controller's seats, which are the controller
    login's own family (its password, its rights; the witness holds one of them)."""
    return [(login, principal) for login, principal in creds.logins() if principal.seat is None]


def _own_client_id(principal: Principal) -> str:
    """The one client id the contract lets this login connect with (broker/identity.py)."""
    return bound_client_id(principal)


# -- connections --------------------------------------------------------------------------------
@dataclass
class _Probe:
    """One raw MQTT 3.1.1 connection that records every message it receives, in order."""

    client: aiomqtt.Client
    username: str
    seen: list[tuple[str, bytes]] = field(default_factory=list)
    _wanted: dict[tuple[str, bytes], asyncio.Future[None]] = field(default_factory=dict)

    async def read(self) -> None:
        async for message in self.client.messages:
            payload = message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
            item = (str(message.topic), payload)
            self.seen.append(item)
            waiter = self._wanted.pop(item, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    async def until(self, topic: str, payload: bytes) -> None:
        """Wait until ``payload`` has arrived on ``topic`` (at most ``WAIT_S``)."""
        if (topic, payload) in self.seen:
            return
        waiter = self._wanted.setdefault((topic, payload), asyncio.get_running_loop().create_future())
        try:
            async with asyncio.timeout(WAIT_S):
                await waiter
        except TimeoutError:
            msg = f"{self.username} did not receive its control message on {topic} within {WAIT_S:g} s"
            raise BenchError(msg) from None


@contextlib.asynccontextmanager
async def _connected(creds: HomeCredentials, login: Login, client_id: str) -> AsyncIterator[_Probe]:
    client = aiomqtt.Client(
        creds.host,
        creds.port,
        username=login.username,
        password=login.password,
        identifier=client_id,
        protocol=aiomqtt.ProtocolVersion.V311,
        timeout=WAIT_S,
        socket_options=[NODELAY],
    )
    try:
        async with asyncio.timeout(WAIT_S):
            await client.__aenter__()
    except (aiomqtt.MqttError, TimeoutError) as exc:
        msg = f"{login.username} could not log in to the bench's own broker: {exc}"
        raise BenchError(msg) from None
    probe = _Probe(client, login.username)
    reader = asyncio.create_task(probe.read(), name=f"reliability:{client_id}")
    try:
        yield probe
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
            await reader
        with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
            await client.__aexit__(None, None, None)


@dataclass
class _Login:
    creds: HomeCredentials
    principal: Principal
    probe: _Probe

    @property
    def username(self) -> str:
        return self.principal.username


@dataclass
class _Setup:
    homes: list[HomeCredentials]
    policy: Policy
    topics: dict[str, list[str]]
    """Candidate topics of each home."""
    filters: list[str]
    witnesses: dict[str, _Probe]
    logins: list[_Login]

    def orchestrator(self, home: str) -> _Login:
        return next(x for x in self.logins if x.principal.home == home and x.principal.role is Role.ORCHESTRATOR)

    def every_topic(self) -> list[str]:
        return [topic for topics in self.topics.values() for topic in topics]

    def first_topic(self, home: str, *, publish: str | None = None, read: str | None = None) -> str:
        """The first candidate topic of ``home`` that ``publish`` may publish and ``read`` may read."""
        for topic in self.topics[home]:
            if publish is not None and not self.policy.may_publish(publish, topic):
                continue
            if read is not None and not self.policy.may_receive(read, topic):
                continue
            return topic
        msg = f"no topic of {home} that {publish or read} may use: the rule table changed under the bench"
        raise BenchError(msg)


@contextlib.asynccontextmanager
async def _setup(choice: BrokerChoice, devices: int | None) -> AsyncIterator[_Setup]:
    if not choice.enforces_contract:
        msg = f"the access control of {choice.describe()} is its operator's: the ACL matrix needs embedded or mosquitto"
        raise BenchError(msg)
    async with open_broker(choice, home_logins(devices)) as homes, contextlib.AsyncExitStack() as stack:
        topics = {c.home: _unique(topic_classes(Topics(c.home, c.root), c.devices)) for c in homes}
        filters = _unique(
            [f for c in homes for f in filter_classes(Topics(c.home, c.root), c.devices)]
            + global_filters(homes[0].root)
        )
        witnesses: dict[str, _Probe] = {}
        for creds in homes:
            seat, principal = controller_seats(creds.home, creds.controller)[-1]
            witness = await stack.enter_async_context(_connected(creds, seat, _own_client_id(principal)))
            await witness.client.subscribe(Topics(creds.home, creds.root).everything, qos=1)
            witnesses[creds.home] = witness
        logins = [
            _Login(
                creds, principal, await stack.enter_async_context(_connected(creds, login, _own_client_id(principal)))
            )
            for creds in homes
            for login, principal in probed_logins(creds)
        ]
        yield _Setup(homes, policy_for(homes), topics, filters, witnesses, logins)


def _retained(topics: Topics, topic: str) -> bool:
    ref = topics.parse(topic)
    return ref is not None and ref.kind in RETAINED_KINDS


# -- forged publishes ------------------------------------------------------------------------------
async def acl_matrix(choice: BrokerChoice, *, devices: int | None = None) -> list[Row]:
    """The forged publishes and the forbidden subscriptions of every login: two rows."""
    async with _setup(choice, devices) as setup:
        published = await _forged_publishes(setup)
        subscribed = await _forbidden_subscriptions(setup)
    return [published, subscribed]


async def _forged_publishes(setup: _Setup) -> Row:
    counts = await asyncio.gather(*(_forge(setup, login) for login in setup.logins))
    for home, witness in setup.witnesses.items():  # everything routed before the controls is in
        echo = setup.first_topic(home, publish=witness.username)
        await witness.client.publish(echo, CONTROL + witness.username.encode(), qos=1)
        await witness.until(echo, CONTROL + witness.username.encode())
    leaks = [
        (home, topic, payload)
        for home, w in setup.witnesses.items()
        for topic, payload in w.seen
        if payload.startswith(FORGED)
    ]
    attempts = sum(counts)
    return Row(
        "acl_publish",
        "ACL: forged publishes",
        attempts=attempts,
        refused=attempts - len({payload for _, _, payload in leaks}),
        leaked=len(leaks),
        details={
            "logins": len(setup.logins),
            "homes": [c.home for c in setup.homes],
            "candidate_topics": len(setup.every_topic()),
            "examples": [
                f"{payload[len(FORGED) :].decode()} reached the {home} witness" for home, _, payload in leaks[:10]
            ],
        },
    )


async def _forge(setup: _Setup, login: _Login) -> int:
    """Publish a forged payload on every candidate topic ``login`` may not; then a control message."""
    client, username, sent = login.probe.client, login.username, 0
    home_topics = Topics(login.creds.home, login.creds.root)
    for topic in setup.every_topic():
        if setup.policy.may_publish(username, topic):
            continue
        payload = FORGED + f"{username} -> {topic}".encode()
        await client.publish(topic, payload, qos=1, retain=_retained(home_topics, topic))
        sent += 1
    control = setup.first_topic(login.creds.home, publish=username)
    await client.publish(control, CONTROL + username.encode(), qos=1)
    await setup.witnesses[login.creds.home].until(control, CONTROL + username.encode())
    return sent


# -- forbidden subscriptions ---------------------------------------------------------------------
@dataclass
class _Tried:
    login: _Login
    filters: list[str]
    codes: list[int]
    fence: str


async def _forbidden_subscriptions(setup: _Setup) -> Row:
    everything = setup.every_topic()
    retained = [t for c in setup.homes for t in setup.topics[c.home] if _retained(Topics(c.home, c.root), t)]
    await _bait(setup, retained, retain=True)
    tried = await asyncio.gather(*(_subscribe(setup, login, everything) for login in setup.logins))
    await _bait(setup, everything, retain=False)
    for t in tried:  # one at a time: each fence after the last bait of every home
        await _fence_publish(setup, t)
    await asyncio.gather(*(t.login.probe.until(t.fence, FENCE + t.login.username.encode()) for t in tried))
    attempts = suback_refused = filtered = leaked_filters = 0
    leaks: list[str] = []
    unmeasurable = 0
    for t in tried:
        username = t.login.username
        forbidden = [(topic, p) for topic, p in t.login.probe.seen if not setup.policy.may_receive(username, topic)]
        leaks += [f"{username} read {topic}" for topic, _ in forbidden]
        unmeasurable += sum(1 for f in setup.filters if not setup.policy.may_subscribe(username, f)) - len(t.filters)
        for topic_filter, code in zip(t.filters, t.codes, strict=True):
            attempts += 1
            if code >= SUBACK_FAILURE:
                suback_refused += 1
            elif any(within(topic, topic_filter) for topic, _ in forbidden):
                leaked_filters += 1
            else:
                filtered += 1
    return Row(
        "acl_subscribe",
        "ACL: forbidden subscriptions",
        attempts=attempts,
        refused=suback_refused + filtered,
        leaked=len(leaks),
        details={
            "refused_in_suback": suback_refused,
            "granted_but_nothing_delivered": filtered,
            "leaked_filters": leaked_filters,
            "forbidden_filters_no_bait_could_show": unmeasurable,
            "candidate_filters": len(setup.filters),
            "bait_topics": len(everything),
            "examples": leaks[:10],
        },
    )


async def _bait(setup: _Setup, topics: list[str], *, retain: bool) -> None:
    """Each home's orchestrator publishes bait on every topic of its home in ``topics``; then a
    marker its home's witness must see, so every bait has been routed to every subscriber."""
    for creds in setup.homes:
        orchestrator = setup.orchestrator(creds.home)
        mine = [t for t in topics if t in setup.topics[creds.home]]
        for topic in mine:
            await orchestrator.probe.client.publish(topic, BAIT + topic.encode(), qos=1, retain=retain)
        marker = setup.first_topic(creds.home, publish=orchestrator.username)
        payload = CONTROL + f"bait {'retained' if retain else 'live'} {secrets.token_hex(4)}".encode()
        await orchestrator.probe.client.publish(marker, payload, qos=1)
        await setup.witnesses[creds.home].until(marker, payload)


async def _subscribe(setup: _Setup, login: _Login, everything: list[str]) -> _Tried:
    """Subscribe ``login`` to its fence topic, then to every forbidden filter some bait could leak through."""
    username, policy = login.username, setup.policy
    unreadable = [t for t in everything if not policy.may_receive(username, t)]

    def could_leak(topic_filter: str) -> bool:
        return any(within(t, topic_filter) for t in unreadable)

    filters = [f for f in setup.filters if not policy.may_subscribe(username, f) and could_leak(f)]
    orchestrator = setup.orchestrator(login.creds.home).username
    fence = setup.first_topic(login.creds.home, publish=orchestrator, read=username)
    (granted,) = await login.probe.client.subscribe(fence, qos=1)
    if _code(granted) >= SUBACK_FAILURE:
        msg = f"the broker refused {username} a subscription the rule table allows ({fence})"
        raise BenchError(msg)
    codes: list[int] = []
    for start in range(0, len(filters), SUBSCRIBE_CHUNK):
        chunk = filters[start : start + SUBSCRIBE_CHUNK]
        granted_all = await login.probe.client.subscribe([(f, 1) for f in chunk])
        codes += [_code(g) for g in granted_all]
    return _Tried(login, filters, codes, fence)


async def _fence_publish(setup: _Setup, tried: _Tried) -> None:
    orchestrator = setup.orchestrator(tried.login.creds.home)
    await orchestrator.probe.client.publish(tried.fence, FENCE + tried.login.username.encode(), qos=1)


def _code(granted: Any) -> int:
    return int(granted.value) if hasattr(granted, "value") else int(granted)


# -- bad logins ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Attempt:
    what: str
    username: str | None
    password: str | None
    client_id: str


def bad_attempts(homes: list[HomeCredentials]) -> list[_Attempt]:
    """Every login with a wrong, a missing, the other home's and a neighbour login's password;
    unknown users; no login at all."""
    out: list[_Attempt] = []
    for creds in homes:
        other = next(c for c in homes if c.home != creds.home)
        counterpart = {p.name: login for login, p in probed_logins(other)}
        logins = probed_logins(creds)
        for n, (login, principal) in enumerate(logins):
            client_id = _own_client_id(principal)
            neighbour = logins[(n + 1) % len(logins)][0]
            out += [
                _Attempt("wrong password", login.username, "not-" + login.password, client_id),
                _Attempt("no password", login.username, None, client_id),
                _Attempt("another home's password", login.username, counterpart[principal.name].password, client_id),
                _Attempt("another login's password", login.username, neighbour.password, client_id),
            ]
        some_password = creds.controller.password
        for ghost in (f"{creds.home}.ghost", f"{creds.home}.$admin"):
            out.append(_Attempt("unknown user", ghost, some_password, f"{ghost}-{secrets.token_hex(3)}"))
    out.append(_Attempt("unknown user", "ghost", homes[0].controller.password, f"ghost-{secrets.token_hex(3)}"))
    out.append(_Attempt("anonymous", None, None, f"anonymous-{secrets.token_hex(3)}"))
    return out


async def bad_logins(choice: BrokerChoice, *, devices: int | None = None) -> Row:
    """Try every bad login (``bad_attempts``) on a broker with both homes: each must be refused."""
    if not choice.enforces_contract:
        msg = f"the logins of {choice.describe()} are its operator's: bad logins need embedded or mosquitto"
        raise BenchError(msg)
    async with open_broker(choice, home_logins(devices)) as homes:
        attempts = bad_attempts(homes)
        outcomes = [await _try(homes[0], attempt) for attempt in attempts]
    accepted = [
        f"{a.what}: {a.username}" for a, outcome in zip(attempts, outcomes, strict=True) if outcome == "accepted"
    ]
    by_class: dict[str, dict[str, int]] = {}
    for attempt, outcome in zip(attempts, outcomes, strict=True):
        counts = by_class.setdefault(attempt.what, {})
        counts[outcome] = counts.get(outcome, 0) + 1
    return Row(
        "bad_logins",
        "bad logins",
        attempts=len(attempts),
        refused=len(attempts) - len(accepted),
        leaked=len(accepted),
        details={"by_class": by_class, "examples": accepted[:10]},
    )


async def _try(creds: HomeCredentials, attempt: _Attempt) -> str:
    """``refused`` (CONNACK refused), ``closed`` (connection dropped), ``timeout`` or ``accepted``."""
    client = aiomqtt.Client(
        creds.host,
        creds.port,
        username=attempt.username,
        password=attempt.password,
        identifier=attempt.client_id,
        protocol=aiomqtt.ProtocolVersion.V311,
        timeout=WAIT_S,
    )
    try:
        async with asyncio.timeout(WAIT_S):
            await client.__aenter__()
    except aiomqtt.MqttCodeError:
        return "refused"
    except (aiomqtt.MqttError, OSError):
        return "closed"
    except TimeoutError:
        return "timeout"
    with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
        await client.__aexit__(None, None, None)
    return "accepted"

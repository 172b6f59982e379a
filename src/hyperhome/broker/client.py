"""The one MQTT client adapter: aiomqtt inside, the project's errors outside.

``BusClient`` is an async context manager that owns one broker connection for its whole life:
it connects (with a last will), dispatches incoming messages to handlers in arrival order,
reconnects with exponential backoff when the connection drops, resubscribes, and calls
``on_connect`` after every (re)connect so its owner can republish what it must.

Handlers run one at a time, in the order messages arrive; they must be quick (start a task for
anything that waits), because a handler that waits on another message would wait forever.

Two seams, both small protocols here:

- *Under the client, a transport* (``Transport`` makes ``Link`` sessions), as a transport sits
  under httpx's client: ``Endpoint`` drives a real broker through aiomqtt (``MqttLink``) and
  ``broker/memory.py``'s ``MemoryBroker`` is a broker in this process. The same ``BusClient``
  code (dispatch, the filter cover, reconnects, the barrier's hooks) runs on both.
- *Beside it, an observer* (``BusObserver``; in virtual time the barrier of broker/sync.py): the
  client tells it when it joins and leaves, what it publishes and what arrives, and it sees the
  client only through ``Member``. This module never imports the barrier.

*Why aiomqtt, pinned, and not paho driven directly.* HyperHome does its own reconnects,
resubscription, timeouts and routing, and ``_PromptClient`` overrides a few of aiomqtt's private
methods (docs/upstream.md). Driving paho-mqtt directly, as Home Assistant does, would make those
socket callbacks our own code; measured, it cannot buy much: ``hyperhome bench overhead`` on
Mosquitto (2 cores, AMD EPYC, 2026-12-02) gives this adapter 4,829 QoS 1 publishes/s against
5,087 for raw aiomqtt, 0.95 of it, so a paho-direct client could win at most the last 5 % on
this path, and the handoff latency is dominated by broker hops (docs/BENCHMARKS.md). So aiomqtt
and paho-mqtt are pinned exactly (pyproject.toml) and ``tests/broker/test_upstream_contract.py``
fails, naming the method, on the day a release changes one of the private parts used here.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import math
import random
import socket
import weakref
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import aiomqtt
import paho.mqtt.client as paho
from pydantic import BaseModel

from hyperhome.broker.credentials import HomeCredentials, Login, TlsFiles
from hyperhome.broker.filters import cover, within
from hyperhome.broker.identity import client_id_of_login
from hyperhome.broker.wire import dumps, loads
from hyperhome.errors import BusError, ConnectError, ForbiddenError, NotConnectedError
from hyperhome.tasks import TaskOwner

if TYPE_CHECKING:
    from types import TracebackType

log = logging.getLogger(__name__)
# paho's own lines (e.g. a TLS alert) reach the user as the error of a failed connect instead
_paho_log = logging.getLogger(f"{__name__}.paho")
_paho_log.addHandler(logging.NullHandler())

Payload = bytes | str | dict[str, Any] | list[Any] | BaseModel | None
Handler = Callable[["Message"], Awaitable[None] | None]
Acked = Callable[[bool], None]
"""Told whether a message handed over without waiting reached the broker (``publish_nowait``)."""

_ABANDON_CONNECT_S = 5.0  # how long a given-up connect waits for paho's connecting thread
_SUBACK_FAILURE = 0x80
_ROUTES_CACHED = 4096  # topics whose matching subscriptions a client remembers (then starts over)
_client_ids = itertools.count(1)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a broker listens, and over TLS how to trust it (``None``: plain TCP)."""

    host: str
    port: int
    tls: TlsFiles | None = None

    def __post_init__(self) -> None:
        if self.tls is not None:
            self.tls.context()  # a missing or bad file is a ConfigError here, not a failed connect

    @classmethod
    def of(cls, creds: HomeCredentials) -> Endpoint:
        """Where the broker of ``creds`` (a credentials file) listens."""
        return cls(creds.host, creds.port, creds.tls)

    def describe(self) -> str:
        return f"{self.host}:{self.port}"

    def link(self, login: Login, *, client_id: str, will: Will | None, keepalive_s: int) -> MqttLink:
        """A session with the broker here, through aiomqtt (``MqttLink``)."""
        return MqttLink(self, login, client_id=client_id, will=will, keepalive_s=keepalive_s)


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False

    def json(self) -> Any:
        """The payload parsed as JSON within the contract's limits (``wire.loads``; ValueError if it is not)."""
        return loads(self.payload)

    @property
    def text(self) -> str:
        return self.payload.decode("utf-8", errors="replace")


@dataclass(slots=True)
class _Subscription:
    topic_filter: str
    handlers: list[Handler]
    qos: int


def encode(payload: Payload) -> bytes:
    if payload is None:
        return b""
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        return payload.encode()
    if isinstance(payload, BaseModel):
        return payload.model_dump_json().encode()
    return dumps(payload)


@dataclass(slots=True)
class Backoff:
    """Exponential reconnect backoff with jitter, in wall-clock seconds (it is about the network)."""

    initial_s: float = 0.05
    maximum_s: float = 5.0
    factor: float = 2.0
    _next: float = field(default=0.0, init=False)

    def reset(self) -> None:
        self._next = self.initial_s

    def next_delay(self) -> float:
        delay = self._next or self.initial_s
        self._next = min(delay * self.factor, self.maximum_s)
        return delay * random.uniform(0.8, 1.2)


class Bus(Protocol):
    """What devices, the orchestrator and controllers need of a connection (``BusClient``)."""

    client_id: str
    connects: int

    @property
    def connected(self) -> bool: ...

    async def __aenter__(self) -> Bus: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    async def subscribe(self, topic_filter: str, handler: Handler, qos: int = 1) -> None: ...

    async def subscribe_all(self, topic_filters: Sequence[str], handler: Handler, qos: int = 1) -> None: ...

    async def unsubscribe(self, topic_filter: str, handler: Handler | None = None) -> None: ...

    async def publish(self, topic: str, payload: Payload = None, *, qos: int = 1, retain: bool = False) -> None: ...

    def publish_nowait(
        self, topic: str, payload: Payload = None, *, qos: int = 1, retain: bool = False, acked: Acked | None = None
    ) -> None: ...


class Connector(Protocol):
    """Makes the connection for one login: ``MqttConnector`` or ``MemoryBroker.connector``."""

    def __call__(
        self,
        login: Login,
        *,
        client_id: str | None = None,
        will: Will | None = None,
        on_connect: Callable[[], Awaitable[None]] | None = None,
    ) -> Bus: ...


# -- the transport seam ----------------------------------------------------------------------
class LinkError(Exception):
    """A link failed or was lost; ``refused``: the broker refused the login. ``BusClient`` turns
    it into the project's errors (``ConnectError``, ``NotConnectedError``) or a reconnect."""

    def __init__(self, message: str, *, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


class Link(Protocol):
    """One session of one connection, what ``BusClient`` drives: MQTT over TCP through aiomqtt
    (``Endpoint``) or in memory (``broker/memory.py``), as a transport sits under httpx's client.

    Entered, it is connected (CONNACK) or raises ``LinkError``; every operation raises
    ``LinkError`` once the connection is lost; none of its waits is bounded here (``BusClient``
    bounds them).
    """

    async def __aenter__(self) -> Link: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    async def subscribe(self, topic_filter: str, qos: int) -> list[int]:
        """The broker's answer: the granted QoS, or ``0x80`` and more for a refusal."""

    async def unsubscribe(self, topic_filter: str) -> None: ...

    async def publish(self, topic: str, payload: bytes, *, qos: int, retain: bool) -> None:
        """Publish and wait for the broker's acknowledgement (for QoS 1)."""

    def publish_nowait(self, topic: str, payload: bytes, *, qos: int, retain: bool, acked: Acked | None = None) -> None:
        """Hand the message over without waiting for its acknowledgement.

        ``acked``, if given, is called once: ``acked(True)`` when the broker has the message (its
        PUBACK for QoS 1; at once for QoS 0 and in memory), ``acked(False)`` when the connection
        was lost first (the message may or may not have reached the broker).
        """

    def messages(self) -> AsyncGenerator[Message, None]:
        """What arrives, in arrival order; ends with ``LinkError`` when the connection is lost."""

    async def lost(self) -> None:
        """Return once the connection is gone."""


class Transport(Protocol):
    """Where a ``BusClient``'s connections go: a broker's ``Endpoint`` or a ``MemoryBroker``."""

    def describe(self) -> str:
        """Where, for messages (``host:port``)."""

    def link(self, login: Login, *, client_id: str, will: Will | None, keepalive_s: int) -> Link:
        """A new, unentered session for ``login`` as ``client_id`` with last will ``will``."""


# -- the seam between the bus and virtual time -----------------------------------------------
class Member(Protocol):
    """What an observer of connections (the virtual-time barrier) may read of one and ask of it."""

    @property
    def client_id(self) -> str: ...

    @property
    def username(self) -> str:
        """The login's username (the barrier publishes its tokens where that login may)."""

    @property
    def will(self) -> Will | None: ...

    @property
    def broker_filters(self) -> frozenset[str]:
        """The filters held at the broker right now, a non-overlapping cover of the handlers'."""

    async def handle(self, message: Message) -> None:
        """Run the handlers of ``message`` (the observer releases what arrived, in its order)."""

    async def hold(self, topic_filter: str, *, timeout_s: float) -> None:
        """Subscribe to ``topic_filter`` at the broker for the observer, outside the handlers'
        filters (what arrives on it goes to ``BusObserver.arrived``); NotConnectedError if that
        fails or takes longer than ``timeout_s``."""

    async def publish_token(self, topic: str, payload: bytes) -> None:
        """Publish at QoS 0, bounded, errors ignored, not shown to the observer."""


class BusObserver(Protocol):
    """What a ``BusClient`` tells its observer (``SyncBarrier``, in virtual time), and when.

    With an observer, the client hands every message it reads to ``arrived`` instead of running
    its handlers, and publishes without waiting for acknowledgements: the observer decides when
    a message is handled (``Member.handle``) and proves arrival itself.
    """

    async def join(self, member: Member) -> None:
        """``member`` connected and holds its filters; it is connected once this returns."""

    def leave(self, member: Member, *, lost: bool = False) -> None:
        """``member`` has no connection any more; ``lost``: not by its own choice."""

    def published(self, member: Member, topic: str, payload: bytes) -> None:
        """``member`` is about to publish ``payload`` to ``topic``."""

    def arrived(self, member: Member, message: Message) -> None:
        """``member`` has read ``message`` off its connection."""

    def filters_changing(self) -> None:
        """A member starts changing its broker-side filters..."""

    def filters_changed(self) -> None:
        """...and is done (one call for each ``filters_changing``)."""


@dataclass(frozen=True, slots=True)
class MqttConnector:
    """Connections through ``transport`` (a broker's ``Endpoint``); in virtual time they report to
    ``observer`` (the home's ``SyncBarrier``)."""

    transport: Transport
    observer: BusObserver | None = None
    backoff: Backoff | None = None  # every connection's reconnect backoff (each gets its own copy)

    def __call__(
        self,
        login: Login,
        *,
        client_id: str | None = None,
        will: Will | None = None,
        on_connect: Callable[[], Awaitable[None]] | None = None,
    ) -> BusClient:
        return BusClient(
            self.transport,
            login,
            client_id=client_id,
            will=will,
            on_connect=on_connect,
            observer=self.observer,
            backoff=None if self.backoff is None else dataclasses.replace(self.backoff),
        )


class BusClient:
    """One connection to the broker under one login; see the module docstring."""

    def __init__(
        self,
        transport: Transport,
        login: Login,
        *,
        client_id: str | None = None,
        will: Will | None = None,
        on_connect: Callable[[], Awaitable[None]] | None = None,
        observer: BusObserver | None = None,
        keepalive_s: int = 30,
        connect_timeout_s: float = 10.0,
        backoff: Backoff | None = None,
    ) -> None:
        self.transport = transport
        self.login = login
        # by default the one client id the login may use on HyperHome's brokers (identity.py)
        self.client_id = (
            client_id
            or client_id_of_login(login.username)
            or f"{login.username}-{next(_client_ids)}-{random.getrandbits(24):06x}"
        )
        self._will = will
        self._on_connect = on_connect
        self._observer = observer
        self._keepalive_s = keepalive_s
        self._connect_timeout_s = connect_timeout_s
        self._backoff = backoff or Backoff()
        self._subscriptions: dict[str, _Subscription] = {}
        self._routes: dict[str, tuple[_Subscription, ...]] = {}  # topic -> matching subscriptions
        self._broker_filters: set[str] = set()
        self._filters_lock = asyncio.Lock()  # one change of the broker-side filters at a time
        self._link: Link | None = None
        self._connected = asyncio.Event()
        self._first_connect: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._taps: list[Callable[[Message], None]] = []
        self._filter_tasks = TaskOwner(f"bus:{self.client_id}", logger=log)  # broker-side unsubscribes under way
        self._retry = asyncio.Event()  # set: reconnect now instead of at the end of the backoff
        self.connects = 0
        self.announced = 0
        """Sessions whose ``on_connect`` finished (what the owner republishes on connect is out)."""
        self._connect_counted = asyncio.Event()

    # -- life cycle -------------------------------------------------------------------------
    async def __aenter__(self) -> BusClient:
        if self._task is not None:
            msg = "BusClient is not reentrant"
            raise BusError(msg)
        self._closing = False
        await self._filter_tasks.open()
        self._first_connect = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._run(), name=f"bus:{self.client_id}")
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                await asyncio.shield(self._first_connect)
        except BaseException as exc:
            await self._stop()
            if isinstance(exc, TimeoutError):
                where = self.transport.describe()
                msg = f"could not connect to {where} as {self.login.username} within {self._connect_timeout_s} s"
                raise ConnectError(msg) from None
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stop()

    async def _stop(self) -> None:
        self._closing = True
        await self._filter_tasks.aclose()
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def username(self) -> str:
        return self.login.username

    @property
    def will(self) -> Will | None:
        """What the broker publishes for this client when its connection is lost."""
        return self._will

    async def wait_connected(self, timeout_s: float = 10.0) -> None:
        async with asyncio.timeout(timeout_s):
            await self._connected.wait()

    async def wait_connects(self, more_than: int, timeout_s: float = 10.0) -> None:
        """Return once this client has connected more than ``more_than`` times in all, has
        finished announcing itself (its ``on_connect``: a device's retained state republished) and
        is connected now: back from an outage that began when ``connects`` was ``more_than``."""
        async with asyncio.timeout(timeout_s):
            while self.announced <= more_than or self.announced < self.connects:
                self._connect_counted.clear()
                await self._connect_counted.wait()
            await self._connected.wait()

    async def _run(self) -> None:
        """Connect, serve, and after any failure connect again, until closed.

        Whatever ends a session (the broker or the network, a refused resubscription, the owner's
        ``on_connect`` failing half-way through its announcement) is logged and followed by a
        reconnect: only ``close`` ends this loop, and before the first connect, any error goes
        straight to ``__aenter__``.
        """
        self._backoff.reset()
        while not self._closing:
            try:
                await self._session()
            except (LinkError, OSError) as exc:  # OSError: socket errors that slipped past aiomqtt
                if self._fail_first_connect(exc):
                    return
                log.info("%s: connection lost (%s); reconnecting", self.client_id, exc)
            except Exception as exc:
                if self._fail_first_connect(exc):
                    return
                log.warning("%s: session ended by %s: %s; reconnecting", self.client_id, type(exc).__name__, exc)
            finally:
                self._link = None
                self._connected.clear()
                if self._observer is not None:
                    self._observer.leave(self, lost=not self._closing)
            if self._closing:
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._backoff.next_delay()):
                    await self._retry.wait()
            self._retry.clear()

    def _fail_first_connect(self, exc: Exception) -> bool:
        """Before the first connect succeeded, errors go to ``__aenter__`` instead of retrying."""
        first = self._first_connect
        if first is None or first.done():
            return False
        if isinstance(exc, BusError):  # a refused subscription says which, at once
            first.set_exception(exc)
            return True
        refused = isinstance(exc, LinkError) and exc.refused
        reason = "refused: bad username or password / not authorised" if refused else str(exc)
        msg = f"could not connect to {self.transport.describe()} as {self.login.username}: {reason}"
        first.set_exception(ConnectError(msg))
        return True

    async def _session(self) -> None:
        link = self.transport.link(self.login, client_id=self.client_id, will=self._will, keepalive_s=self._keepalive_s)
        async with contextlib.AsyncExitStack() as stack:
            async with asyncio.timeout(self._connect_timeout_s):
                await stack.enter_async_context(link)
            self._link = link
            self.connects += 1
            await self._while_connected(link, self._after_connect(link))
            self.announced += 1  # connected and its owner's on_connect (the republish) done
            self._connect_counted.set()
            if self._first_connect is not None and not self._first_connect.done():
                self._first_connect.set_result(None)  # now: nothing of the connect is left running
            observer = self._observer
            async with contextlib.aclosing(link.messages()) as messages:
                async for message in messages:
                    if observer is None:
                        await self.handle(message)
                    else:
                        observer.arrived(self, message)  # handled when the barrier releases it, in its order

    async def _while_connected(self, link: Link, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` unless the connection is lost first: then stop it and raise the loss.

        A publish or subscribe waits for the broker's answer, which a cut link never sends; without
        this, a cut in the middle of resubscribing or announcing cost a full timeout.
        """
        task = asyncio.ensure_future(work)
        lost = asyncio.ensure_future(link.lost())
        try:
            await asyncio.wait({task, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            # both are gone before this returns; ``asyncio.wait`` never swallows a cancellation of
            # this task that comes meanwhile (awaiting a cancelled task under ``suppress`` would)
            for pending in (task, lost):
                pending.cancel()
            await asyncio.wait({task, lost})
            if not task.cancelled():
                task.exception()  # retrieved: raised below, unless this task is being cancelled
        if task.cancelled() or not task.done():
            msg = "the connection was lost"
            raise LinkError(msg)
        task.result()

    async def _after_connect(self, link: Link) -> None:
        self._broker_filters.clear()
        await self._sync_broker_filters(link)
        if self._observer is not None:
            await self._observer.join(self)
        self._connected.set()
        if self._on_connect is not None:
            await self._on_connect()
        self._backoff.reset()

    async def handle(self, message: Message) -> None:
        """Show ``message`` to the taps, then run the handlers of every matching filter.

        Called in arrival order by the connection's own loop; in virtual time by the barrier
        instead, in the instant's defined order (broker/sync.py).
        """
        for tap in self._taps:
            tap(message)
        for sub in self._matching(message.topic):
            for handler in list(sub.handlers):
                await _call(handler, message, self.client_id, sub.topic_filter)

    def _matching(self, topic: str) -> tuple[_Subscription, ...]:
        """The subscriptions whose filter matches ``topic`` (remembered until they change)."""
        found = self._routes.get(topic)
        if found is None:
            if len(self._routes) >= _ROUTES_CACHED:
                self._routes.clear()
            found = tuple(sub for sub in self._subscriptions.values() if within(topic, sub.topic_filter))
            self._routes[topic] = found
        return found

    def add_tap(self, tap: Callable[[Message], None]) -> None:
        """Also show every message this connection receives to ``tap``, before its handlers.

        For instruments (``hyperhome bench`` times frames at a sink with it): a tap sees what
        arrives, in arrival order, including messages no handler wants; it must be quick.
        """
        self._taps.append(tap)

    @property
    def broker_filters(self) -> frozenset[str]:
        """The filters this connection holds at the broker right now (a non-overlapping cover)."""
        return frozenset(self._broker_filters)

    # -- operations -------------------------------------------------------------------------
    async def subscribe(self, topic_filter: str, handler: Handler, qos: int = 1) -> None:
        """Subscribe now (if connected) and again after every reconnect.

        Several handlers may share a filter; each gets every matching message once.
        Raises ForbiddenError when the broker refuses the subscription.

        Retained messages: the broker replays them for a new subscription at the broker. A filter
        added while connected that one already held there covers (``+/state`` covers
        ``living-ac/state``) is matched here, with no new SUBSCRIBE, so the handler gets what
        arrives from now on and no replay: subscribe before connecting, or read what is retained
        from what the covering handler kept (a ``Registry``).
        """
        await self.subscribe_all([topic_filter], handler, qos)

    async def subscribe_all(self, topic_filters: Sequence[str], handler: Handler, qos: int = 1) -> None:
        """``subscribe`` to each of ``topic_filters`` with ``handler``, in one change of filters:
        the SUBSCRIBEs go out together and their SUBACKs are awaited together (one broker round
        trip, not one per filter). If the broker refuses one, none of them is kept."""
        added: list[str] = []
        for topic_filter in topic_filters:
            existing = self._subscriptions.get(topic_filter)
            if existing is not None:
                existing.handlers.append(handler)
            else:
                self._subscriptions[topic_filter] = _Subscription(topic_filter, [handler], qos)
                added.append(topic_filter)
        if not added:
            return
        self._routes.clear()
        link = self._link
        if link is not None and self.connected:
            try:
                await self._sync_broker_filters(link)
            except ForbiddenError:
                for topic_filter in topic_filters:
                    if topic_filter in added:
                        del self._subscriptions[topic_filter]
                    else:
                        with contextlib.suppress(ValueError):
                            self._subscriptions[topic_filter].handlers.remove(handler)
                self._routes.clear()
                if len(added) > 1:  # what the broker allowed of them it holds: let it go, as unsubscribe does
                    self._drop_filters_soon(link)
                raise

    async def unsubscribe(self, topic_filter: str, handler: Handler | None = None) -> None:
        """Remove ``handler`` from the filter (or all of them); unsubscribe when none is left.

        No handler sees the filter's messages once this returns. The broker is told in the
        background: its UNSUBACK changes nothing for the caller, and waiting for it cost every
        camera switch a round trip. A later change of filters waits for it (one at a time), and
        so does virtual time (the barrier counts the change from now until it is done).
        """
        sub = self._subscriptions.get(topic_filter)
        if sub is None:
            return
        if handler is not None and handler in sub.handlers:
            sub.handlers.remove(handler)
        if handler is not None and sub.handlers:
            return
        del self._subscriptions[topic_filter]
        self._routes.clear()
        link = self._link
        if link is not None and self.connected:
            self._drop_filters_soon(link)

    def _drop_filters_soon(self, link: Link) -> None:
        task = self._filter_tasks.spawn(self._drop_filters(link), name=f"unsubscribe:{self.client_id}")
        observer = self._observer
        if task is not None and observer is not None:
            observer.filters_changing()  # before the task's first step: ended in its finally

    async def _drop_filters(self, link: Link) -> None:
        try:
            with contextlib.suppress(ForbiddenError, NotConnectedError):
                await self._sync_broker_filters(link)
        finally:
            if self._observer is not None:
                self._observer.filters_changed()

    async def _sync_broker_filters(self, link: Link) -> None:
        """Hold at the broker exactly a non-overlapping cover of the handlers' filters.

        MQTT 3.1.1 lets a broker send one copy of a message per matching subscription (amqtt
        does); with no overlap each message arrives once, and handlers are matched here.
        """
        async with self._filters_lock:
            observer = self._observer
            if observer is None:
                await self._sync_broker_filters_locked(link)
                return
            observer.filters_changing()
            try:
                await self._sync_broker_filters_locked(link)
            finally:
                observer.filters_changed()

    async def _sync_broker_filters_locked(self, link: Link) -> None:
        wanted = cover(list(self._subscriptions))
        missing = [f for f in wanted if f not in self._broker_filters]
        if len(missing) == 1:  # the usual change: no task to gather
            answers = [await self._subscribe_answer(link, missing[0])]
        else:  # every SUBSCRIBE goes out at once (in order), then their SUBACKs are awaited together
            answers = await asyncio.gather(*(self._subscribe_answer(link, f) for f in missing))
        for topic_filter, answer in zip(missing, answers, strict=True):
            if answer is None:
                continue
            if not isinstance(answer, ForbiddenError) or topic_filter in self._subscriptions:
                raise answer
            # a join this login may not hold: hold its parts (the broker may then send copies)
            for part in self._subscriptions:
                if within(part, topic_filter) and part not in self._broker_filters:
                    await self._subscribe_at_broker(link, part)
        needed = {f for f in wanted if f in self._broker_filters}
        for held in list(self._broker_filters):
            covered_elsewhere = any(within(held, w) for w in needed if w != held)
            unused = not any(within(f, held) for f in self._subscriptions)
            if held not in needed and (covered_elsewhere or unused):
                self._broker_filters.discard(held)
                with contextlib.suppress(LinkError, TimeoutError):
                    async with asyncio.timeout(self._connect_timeout_s):
                        await link.unsubscribe(held)

    async def _subscribe_answer(self, link: Link, topic_filter: str) -> Exception | None:
        """``_subscribe_at_broker``, its failure returned rather than raised."""
        try:
            await self._subscribe_at_broker(link, topic_filter)
        except Exception as exc:
            return exc
        return None

    async def _subscribe_at_broker(self, link: Link, topic_filter: str) -> None:
        qos = max((s.qos for f, s in self._subscriptions.items() if within(f, topic_filter)), default=1)
        await self._subscribe_on(link, topic_filter, qos, self._connect_timeout_s)
        self._broker_filters.add(topic_filter)

    async def _subscribe_on(self, link: Link, topic_filter: str, qos: int, timeout_s: float) -> None:
        try:
            async with asyncio.timeout(timeout_s):
                codes = await link.subscribe(topic_filter, qos)
        except (LinkError, TimeoutError) as exc:
            msg = f"subscribe to {topic_filter} failed: {exc}"
            raise NotConnectedError(msg) from None
        if any(code >= _SUBACK_FAILURE for code in codes):
            msg = f"the broker refused {self.login.username} a subscription to {topic_filter}"
            raise ForbiddenError(msg)

    async def hold(self, topic_filter: str, *, timeout_s: float) -> None:
        """For the observer: subscribe to ``topic_filter`` at the broker, apart from the handlers'
        filters and for this session only (``Member.hold``)."""
        link = self._link
        if link is None:
            msg = f"{self.client_id} is not connected; cannot subscribe to {topic_filter}"
            raise NotConnectedError(msg)
        await self._subscribe_on(link, topic_filter, 1, timeout_s)

    async def publish(self, topic: str, payload: Payload = None, *, qos: int = 1, retain: bool = False) -> None:
        """Publish; NotConnectedError if there is no connection right now."""
        if self._observer is not None:
            # virtual time: hand the packet over and return, never waiting for the PUBACK. A
            # caller that waited would resume whenever the broker's answer came, so the order of
            # what it did next, against every other handler, would be the network's; and the
            # barrier proves delivery itself (broker/sync.py)
            self._hand_over(topic, encode(payload), qos, retain, None)
            return
        link = self._link
        if link is None or not self.connected:
            msg = f"{self.client_id} is not connected; cannot publish to {topic}"
            raise NotConnectedError(msg)
        data = encode(payload)
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                await link.publish(topic, data, qos=qos, retain=retain)
        except (LinkError, TimeoutError) as exc:
            msg = f"publish to {topic} failed: {exc}"
            raise NotConnectedError(msg) from None

    def publish_nowait(
        self, topic: str, payload: Payload = None, *, qos: int = 1, retain: bool = False, acked: Acked | None = None
    ) -> None:
        """Hand the message over now and return, never waiting for the broker's acknowledgement;
        NotConnectedError if there is no connection right now.

        What ``publish`` does without the wait: the packet is written to the connection at once,
        in order with everything else this client sends, and ``acked`` (if given) is told later
        whether the broker got it (``Link.publish_nowait``). For a sender that must not hold its
        handler for a broker round trip (a device's state and reply, the orchestrator's outbox);
        in virtual time it is ``publish`` exactly (that never waits there either).
        """
        self._hand_over(topic, encode(payload), qos, retain, acked)

    def _hand_over(self, topic: str, data: bytes, qos: int, retain: bool, acked: Acked | None) -> None:
        link = self._link
        if link is None or not self.connected:
            msg = f"{self.client_id} is not connected; cannot publish to {topic}"
            raise NotConnectedError(msg)
        if self._observer is not None:
            self._observer.published(self, topic, data)
        try:
            link.publish_nowait(topic, data, qos=qos, retain=retain, acked=acked)
        except LinkError as exc:
            msg = f"publish to {topic} failed: {exc}"
            raise NotConnectedError(msg) from None

    async def wait_disconnected(self, timeout_s: float = 10.0) -> None:
        """Return once this client's transport knows the connection is gone: from then on a
        publish fails at once with NotConnectedError (``connected`` may say so a turn later).

        For tests and tools that act during an outage (a broker ``restart``'s ``while_down``).
        """
        link = self._link
        if link is None:
            return
        async with asyncio.timeout(timeout_s):
            await link.lost()

    async def publish_token(self, topic: str, payload: bytes) -> None:
        """Publish a barrier token: like ``publish`` but not counted as activity, errors ignored."""
        link = self._link
        if link is None:
            return
        with contextlib.suppress(LinkError, TimeoutError):
            async with asyncio.timeout(self._connect_timeout_s):
                await link.publish(topic, payload, qos=0, retain=False)

    def reconnect_now(self) -> None:
        """If waiting to reconnect, try at once (a link that healed) instead of after the backoff."""
        self._retry.set()


class MqttLink:
    """A ``Link`` to a real broker: one aiomqtt session (``_PromptClient``), its errors turned
    into ``LinkError`` at this boundary."""

    def __init__(
        self, endpoint: Endpoint, login: Login, *, client_id: str, will: Will | None, keepalive_s: int
    ) -> None:
        last_will = None
        if will is not None:
            last_will = aiomqtt.Will(topic=will.topic, payload=will.payload, qos=will.qos, retain=will.retain)
        self._client = _PromptClient(
            endpoint.host,
            endpoint.port,
            username=login.username,
            password=login.password,
            identifier=client_id,
            protocol=aiomqtt.ProtocolVersion.V311,
            tls_context=endpoint.tls.context() if endpoint.tls is not None else None,
            will=last_will,
            clean_session=True,
            keepalive=keepalive_s,
            # no aiomqtt timeouts: they use asyncio.wait_for, which on Python 3.11 can swallow a
            # cancellation that lands as the reply arrives; every wait is bounded by BusClient instead
            timeout=math.inf,
            max_inflight_messages=1000,
            # small messages, latency matters: without this Nagle + delayed ACK add 40 ms stalls
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
            logger=_paho_log,
        )

    async def __aenter__(self) -> MqttLink:
        try:
            await self._client.__aenter__()
        except aiomqtt.MqttCodeError as exc:
            raise LinkError(str(exc), refused=exc.rc in (4, 5, 134, 135)) from None
        except aiomqtt.MqttError as exc:
            raise LinkError(str(exc)) from None
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            await self._client.__aexit__(exc_type, exc, tb)
        except aiomqtt.MqttError as error:
            raise LinkError(str(error)) from None

    async def subscribe(self, topic_filter: str, qos: int) -> list[int]:
        try:
            granted = await self._client.subscribe(topic_filter, qos=qos, timeout=math.inf)
        except aiomqtt.MqttError as exc:
            raise LinkError(str(exc)) from None
        return [g.value if hasattr(g, "value") else int(g) for g in granted]

    async def unsubscribe(self, topic_filter: str) -> None:
        try:
            await self._client.unsubscribe(topic_filter, timeout=math.inf)
        except aiomqtt.MqttError as exc:
            raise LinkError(str(exc)) from None

    async def publish(self, topic: str, payload: bytes, *, qos: int, retain: bool) -> None:
        """Publish and wait for the broker's PUBACK, or fail as soon as the connection is lost.

        aiomqtt's ``publish`` waits for a PUBACK that a dead connection never sends (until the
        bound, 10 s): here a message published as the broker went down is reported lost at once,
        so that its sender (an outbox, a flow) keeps it for the next connection. One acknowledged
        in the same instant as the loss is reported lost too (at least once, never silently lost).
        QoS 0 has no PUBACK to wait for.
        """
        client = self._client
        try:
            if qos == 0:
                await client.publish(topic, payload, qos=qos, retain=retain, timeout=math.inf)
                return
            _release_publishes_on_loss(client)
            await client.publish(topic, payload, qos=qos, retain=retain, timeout=math.inf)
        except aiomqtt.MqttError as exc:
            raise LinkError(str(exc)) from None
        if client._disconnected.done():  # woken by the loss, not by a PUBACK
            msg = "the connection was lost before the broker acknowledged it"
            raise LinkError(msg)

    def publish_nowait(self, topic: str, payload: bytes, *, qos: int, retain: bool, acked: Acked | None = None) -> None:
        try:
            self._client.publish_nowait(topic, payload, qos=qos, retain=retain, acked=acked)
        except aiomqtt.MqttError as exc:
            raise LinkError(str(exc)) from None

    async def messages(self) -> AsyncGenerator[Message, None]:
        try:
            async for message in self._client.inbox():
                yield message
        except aiomqtt.MqttError as exc:
            raise LinkError(str(exc)) from None

    async def lost(self) -> None:
        await self._client.lost()


class _PromptClient(aiomqtt.Client):
    """aiomqtt's client, but an outgoing packet is written to the socket as it is queued.

    paho-mqtt, driven by an outside event loop as aiomqtt drives it, never writes a packet
    where it is queued: it asks the loop to watch the socket for writing, which aiomqtt does
    with ``call_soon_threadsafe(add_writer)``. Every publish, subscribe and reply then waits two
    turns of the event loop and costs three more system calls (a byte to the loop's self-pipe,
    two ``epoll_ctl``) before its own ``send``. On a busy loop that was the larger part of a
    camera switch (HyperHome issue 7). Here, on the loop's own thread, the packet is written at
    once; only when the socket cannot take it all (or off the loop, while connecting in
    aiomqtt's executor thread) is the socket watched for writing, as before.

    Less work per message and per connection, for a process holding thousands of them (``hyperhome
    fleet``, ``bench density``; docs/upstream.md items 13 and 14):

    - what arrives goes straight into an inbox of ``Message`` (``inbox``), drained in batches;
      aiomqtt wraps each message in its own type with a validated ``Topic`` and, to read it,
      starts a task racing its queue against the disconnect, for every single message;
    - paho's housekeeping (keepalive pings, a PINGRESP that never came) runs from one timer per
      event loop for all connections (``_Housekeeping``), where aiomqtt keeps a task per
      connection that wakes every second;
    - paho's ``on_log`` callback (the last error line: why a connect was closed) is set only until
      the broker accepted the connect: with it set, paho formats a line for every packet.

    Also: a connection the broker closes before accepting it fails the connect at once, with
    paho's last error (a TLS alert, say) as its reason; a write that finds the link dead (a
    client kicked by another connection with its id) leaves nothing to watch, where aiomqtt would
    ask the loop to watch descriptor -1 (a ``ValueError`` traceback in the log); and a SUBACK or
    UNSUBACK that comes after its waiter gave up (cancelled, timed out) is dropped quietly, where
    aiomqtt logs a ``KeyError`` traceback.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._last_error = ""
        self._client.on_log = self._remember_error  # until connected (below)
        self._inbox: deque[Message] = deque()
        self._inbox_waiter: asyncio.Future[None] | None = None

    async def __aenter__(self) -> _PromptClient:
        """aiomqtt's connect, owned here so that a connect given up half-way (Ctrl-C, a refusal,
        a timeout) leaves nothing behind: aiomqtt would leave paho's thread connecting, the socket
        watched, its loop task running and its lock held, and paho would then close the socket
        from ``__del__`` on a loop that is gone (a traceback at exit)."""
        if self._lock.locked():
            msg = "The client context manager is reusable, but not reentrant"
            raise aiomqtt.MqttReentrantError(msg)
        await self._lock.acquire()
        try:
            await self._connect_socket()
            await self._wait_for(self._connected, timeout=None)
        except BaseException:
            await self._abandon_connect()
            raise
        # the last error line matters only to a connect the broker closes; with a callback set,
        # paho formats a log line for every packet sent or received
        self._client.on_log = None
        if self._disconnected.done():
            self._disconnected = asyncio.get_running_loop().create_future()
        return self

    async def _connect_socket(self) -> None:
        """paho's blocking connect in a thread; cancelled, it still waits (bounded) for the thread."""
        connecting = asyncio.get_running_loop().run_in_executor(None, self._client_connect)
        try:
            await asyncio.shield(connecting)
        except asyncio.CancelledError:
            with contextlib.suppress(BaseException):
                async with asyncio.timeout(_ABANDON_CONNECT_S):
                    await connecting
            raise
        except (OSError, paho.WebsocketConnectionError) as exc:
            raise aiomqtt.MqttError(str(exc)) from None
        sock = self._client.socket()
        if isinstance(sock, socket.socket):
            for option in self._socket_options:
                sock.setsockopt(*option)

    async def _abandon_connect(self) -> None:
        self._client._reset_sockets()  # private: paho has no public "close without DISCONNECT"
        task = self._misc_task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        if not self._connected.done():
            self._connected.cancel()
        self._connected = asyncio.get_running_loop().create_future()
        if self._lock.locked():
            self._lock.release()

    def _remember_error(self, client: Any, userdata: Any, level: int, line: str) -> None:
        if level == paho.MQTT_LOG_ERR:
            self._last_error = line

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any = None) -> None:
        # Closed before its CONNACK (a broker that wants a client certificate, say): aiomqtt would
        # wait for a CONNACK that cannot come, until the connect timeout. Fail the connect now.
        if not self._connected.done():
            reason = self._last_error or f"the broker closed the connection before accepting it ({reason_code})"
            self._connected.set_exception(aiomqtt.MqttError(reason))
            self._connected.exception()  # no "never retrieved" warning if the connect was given up already
            return
        super()._on_disconnect(client, userdata, flags, reason_code, properties)

    def _on_socket_register_write(self, client: Any, userdata: Any, sock: Any) -> None:
        if sock.fileno() < 0:  # closed under us (a cut link): paho reports the loss; nothing to watch
            return
        if _running_loop() is self._loop:
            try:
                client.loop_write()
            except Exception:  # the watched path below meets the same error and reports it
                log.debug("%s: immediate write failed; leaving it to the event loop", self.identifier)
            else:
                if not client.want_write():
                    return
            if sock.fileno() < 0:  # the write found the link dead and paho closed the socket (and said so)
                return
        super()._on_socket_register_write(client, userdata, sock)

    def _on_socket_unregister_write(self, client: Any, userdata: Any, sock: Any) -> None:
        if sock.fileno() >= 0:  # a closed socket is no longer watched
            super()._on_socket_unregister_write(client, userdata, sock)

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, reason_codes: Any, properties: Any = None) -> None:
        if mid not in self._pending_subscribes:
            log.debug("%s: SUBACK %d came after its subscribe gave up waiting", self.identifier, mid)
            return
        super()._on_subscribe(client, userdata, mid, reason_codes, properties)

    def _on_unsubscribe(self, client: Any, userdata: Any, mid: int, reason_codes: Any, properties: Any = None) -> None:
        if mid not in self._pending_unsubscribes:
            log.debug("%s: UNSUBACK %d came after its unsubscribe gave up waiting", self.identifier, mid)
            return
        super()._on_unsubscribe(client, userdata, mid, reason_codes, properties)

    def _on_message(self, client: Any, userdata: Any, message: paho.MQTTMessage) -> None:
        self._inbox.append(Message(message.topic, _payload_bytes(message.payload), message.qos, bool(message.retain)))
        self._wake_inbox()

    def _inbox_lost(self, disconnected: asyncio.Future[None]) -> None:
        if not disconnected.cancelled():
            disconnected.exception()  # seen: the inbox raises it (no "never retrieved" at exit)
        self._wake_inbox()

    def _wake_inbox(self) -> None:
        waiter = self._inbox_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def inbox(self) -> AsyncGenerator[Message, None]:
        """What arrives, in arrival order, until the connection is lost (then ``MqttError``); what
        arrived before the loss is still delivered first."""
        inbox, disconnected = self._inbox, self._disconnected
        disconnected.add_done_callback(self._inbox_lost)
        try:
            while True:
                while inbox:
                    yield inbox.popleft()
                if disconnected.done():
                    cause = None if disconnected.cancelled() else disconnected.exception()
                    msg = "Disconnected during message iteration"
                    raise aiomqtt.MqttError(msg) from cause
                self._inbox_waiter = self._loop.create_future()
                await self._inbox_waiter
        finally:
            self._inbox_waiter = None
            disconnected.remove_done_callback(self._inbox_lost)

    async def _misc_loop(self) -> None:
        """aiomqtt's per-connection housekeeping task, here a wait on the event loop's one timer."""
        ended = self._loop.create_future()
        housekeeping = _Housekeeping.of(self._loop)
        housekeeping.add(self._client, ended)
        try:
            await ended
        finally:
            housekeeping.discard(self._client)

    async def lost(self) -> None:
        """Return when this connection is gone (aiomqtt keeps that in a private future)."""
        with contextlib.suppress(Exception):
            await asyncio.shield(self._disconnected)

    def publish_nowait(self, topic: str, payload: bytes, *, qos: int, retain: bool, acked: Acked | None = None) -> None:
        """Queue a PUBLISH (written at once, see above) without waiting for its PUBACK.

        aiomqtt's ``publish`` always waits for the broker's acknowledgement of QoS 1; its
        ``on_publish`` callback ignores the acknowledgement of a message nobody waits for, and
        with ``acked`` it tells that instead (``_Ack``: no task, no future per message).
        """
        info = self._client.publish(topic, payload, qos, retain)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            raise aiomqtt.MqttCodeError(info.rc, "Could not publish message")
        if acked is None:
            return
        if qos == 0 or info.is_published():
            acked(True)
            return
        _release_publishes_on_loss(self)
        self._pending_publishes[info.mid] = _Ack(self, acked)  # type: ignore[assignment]


class _Ack:
    """Stands in aiomqtt's table of publishes waiting for their PUBACK (``_pending_publishes``)
    for one that nobody awaits: aiomqtt calls ``set`` on the PUBACK, and so does
    ``_release_publishes_on_loss`` when the connection is lost first."""

    __slots__ = ("_acked", "_client")

    def __init__(self, client: aiomqtt.Client, acked: Acked) -> None:
        self._client = client
        self._acked: Acked | None = acked

    def set(self) -> None:
        acked, self._acked = self._acked, None
        if acked is not None:
            # woken by the loss, not by a PUBACK: lost (at least once; see ``MqttLink.publish``)
            acked(not self._client._disconnected.done())


class _Housekeeping:
    """paho's ``loop_misc`` (keepalive pings, a PINGRESP that never came) for every connection of
    one event loop, each once a second, from one timer: the connections are spread over
    ``SLICES`` turns of it, so that ten thousand of them cost neither a long stall nor a wake-up
    each (aiomqtt keeps a task per connection that sleeps one second between calls)."""

    SLICES = 10
    PERIOD_S = 1.0

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._slices: list[dict[paho.Client, asyncio.Future[None]]] = [{} for _ in range(self.SLICES)]
        self._where: dict[paho.Client, int] = {}
        self._added = itertools.count()
        self._turn = 0
        self._timer: asyncio.TimerHandle | None = None

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> _Housekeeping:
        found = _housekeeping_of.get(loop)
        if found is None:
            found = _housekeeping_of[loop] = cls(loop)
        return found

    def add(self, client: paho.Client, ended: asyncio.Future[None]) -> None:
        """Keep ``client`` until ``loop_misc`` says it has no connection: then ``ended`` is set."""
        where = next(self._added) % self.SLICES
        self._slices[where][client] = ended
        self._where[client] = where
        if self._timer is None:
            self._timer = self._loop.call_later(self.PERIOD_S / self.SLICES, self._tick)

    def discard(self, client: paho.Client) -> None:
        where = self._where.pop(client, None)
        if where is not None:
            self._slices[where].pop(client, None)

    def _tick(self) -> None:
        self._timer = None
        turn, self._turn = self._turn, (self._turn + 1) % self.SLICES
        try:
            for client, ended in list(self._slices[turn].items()):
                try:
                    alive = client.loop_misc() == paho.MQTT_ERR_SUCCESS
                except Exception:  # one broken connection must not stop the others' keepalives
                    log.exception("paho's housekeeping failed for one connection; it counts as lost")
                    alive = False
                if not alive and not ended.done():
                    ended.set_result(None)
        finally:
            if self._where:
                self._timer = self._loop.call_later(self.PERIOD_S / self.SLICES, self._tick)


_housekeeping_of: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Housekeeping] = weakref.WeakKeyDictionary()
_watched_for_loss: weakref.WeakSet[aiomqtt.Client] = weakref.WeakSet()


def _release_publishes_on_loss(client: aiomqtt.Client) -> None:
    """When ``client``'s connection is lost, wake every publish still waiting for its PUBACK
    (each checks why it woke); watched once per connection, with no task per publish."""
    if client in _watched_for_loss:
        return
    _watched_for_loss.add(client)

    def release(lost: asyncio.Future[None]) -> None:
        if not lost.cancelled():
            lost.exception()  # seen here; the session loop reports the loss itself
        for waiting in list(client._pending_publishes.values()):
            waiting.set()

    client._disconnected.add_done_callback(release)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


async def _call(handler: Handler, message: Message, client_id: str, topic_filter: str) -> None:
    """Run one handler; its failure is logged and never stops the client."""
    try:
        result = handler(message)
        if result is not None:
            await result
    except Exception:
        log.exception("%s: handler for %s failed on %s", client_id, topic_filter, message.topic)


def _payload_bytes(payload: Any) -> bytes:
    if isinstance(payload, bytes | bytearray):
        return bytes(payload)
    if payload is None:
        return b""
    return str(payload).encode()

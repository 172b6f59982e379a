"""A broker in this process, under ``BusClient``: the transport seam, like httpx's MockTransport.

``MemoryBroker`` is a ``Transport`` (broker/client.py): a ``BusClient`` built on it runs the
same code as on amqtt or Mosquitto (dispatch, the filter cover, reconnects, resubscription,
``on_connect``), only its ``Link`` is a queue here instead of a TCP connection. The broker keeps
the MQTT semantics that code relies on:

- topic filters with wildcards (``broker/filters.py``; ``#`` and ``+`` at the first level do not
  match ``$`` topics), one copy per connection however many of its filters match;
- retained messages (an empty retained payload clears one), sent on every SUBSCRIBE that
  matches them, flagged ``retain``; QoS delivered as the lower of the publish's and the
  subscription's;
- one connection's messages in the order it published them, each connection reading its own
  in order;
- a last will published when a connection is lost without a DISCONNECT (``drop``), and a newer
  connection with a client id taking over (and dropping) the older;
- the access control of one ``Policy`` (``broker/acl.py``, the table both brokers use), when
  given one: a refused subscription is refused in the SUBACK, a forbidden publish dropped, a
  message the login may not receive not delivered; ``MemoryBroker.serving(homes)`` also checks
  each login's password and its one client id (``broker/identity.py``), as HyperHome's brokers do.

It is also the clock's ``Quiescer`` (``activity``, ``quiesce``), so device and flow tests run in
virtual time without a broker process: quiet means every connection has read, and its client
handled, everything routed to it. Integration tests still run against amqtt and Mosquitto.

For tests, ``drop(client_id)`` cuts a connection as a network fault would (``refuse=True``: and
refuses it until ``heal``), as the fault proxy (``broker/faults``) does in front of a real broker.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from typing import TYPE_CHECKING

from hyperhome.broker.acl import Policy
from hyperhome.broker.client import Acked, BusClient, LinkError, Message, Will
from hyperhome.broker.credentials import HomeCredentials, Login
from hyperhome.broker.filters import within
from hyperhome.broker.identity import may_connect

if TYPE_CHECKING:
    from types import TracebackType

log = logging.getLogger(__name__)
_SUBACK_REFUSED = 0x80


def matches(topic: str, topic_filter: str) -> bool:
    """Whether ``topic_filter`` matches ``topic`` as a broker does (MQTT 3.1.1, 4.7.2: a wildcard
    at the first level does not match a topic starting with ``$``)."""
    if topic.startswith("$") and topic_filter[:1] in ("#", "+"):
        return False
    return within(topic, topic_filter)


class MemoryBroker:
    """An MQTT broker in this process for ``BusClient``s; see the module docstring."""

    def __init__(self, policy: Policy | None = None) -> None:
        self.policy = policy
        self._passwords: dict[str, str] | None = None  # None: any login, any client id
        self.retained: dict[str, Message] = {}
        self.links: dict[str, MemoryLink] = {}
        """The connections up now, by client id."""
        self.activity = 0
        self.published: list[Message] = []
        """Every message routed, in order."""
        self._refused: set[str] = set()
        self._quiet = asyncio.Event()

    @classmethod
    def serving(cls, homes: Iterable[HomeCredentials]) -> MemoryBroker:
        """A broker for ``homes`` as HyperHome's brokers serve them: their logins only, each with
        its one client id, under the contract's access control (the one ACL table)."""
        policy = Policy()
        passwords: dict[str, str] = {}
        for creds in homes:
            for login, principal in creds.logins():
                policy.add(login.username, principal, creds.root)
                passwords[login.username] = login.password
        broker = cls(policy)
        broker._passwords = passwords
        return broker

    # -- Transport ------------------------------------------------------------------------------
    def describe(self) -> str:
        return "the memory broker"

    def link(self, login: Login, *, client_id: str, will: Will | None, keepalive_s: int) -> MemoryLink:
        return MemoryLink(self, login, client_id, will)

    # -- clients --------------------------------------------------------------------------------
    def client(
        self,
        username: str = "test",
        *,
        will: Will | None = None,
        client_id: str | None = None,
        on_connect: Callable[[], Awaitable[None]] | None = None,
    ) -> BusClient:
        """A ``BusClient`` on this broker for ``username`` (its default client id: the login's
        one on HyperHome's brokers, else a unique one)."""
        return self.connector(
            Login(username=username, password="-"), will=will, client_id=client_id, on_connect=on_connect
        )

    def connector(
        self,
        login: Login,
        *,
        client_id: str | None = None,
        will: Will | None = None,
        on_connect: Callable[[], Awaitable[None]] | None = None,
    ) -> BusClient:
        """A ``Connector``: pass ``broker.connector`` where a device or controller wants one."""
        return BusClient(self, login, client_id=client_id, will=will, on_connect=on_connect)

    # -- faults ---------------------------------------------------------------------------------
    def drop(self, client_id: str, *, refuse: bool = False) -> None:
        """Cut ``client_id``'s connection without a DISCONNECT, as a network fault would: its last
        will is published; its client reconnects by itself, unless ``refuse`` (a partition): then
        its connections are refused until ``heal``."""
        if refuse:
            self._refused.add(client_id)
        link = self.links.get(client_id)
        if link is not None:
            link.lose()

    def heal(self, client_id: str) -> None:
        """``client_id`` may connect again."""
        self._refused.discard(client_id)

    # -- routing --------------------------------------------------------------------------------
    def _connect(self, link: MemoryLink) -> None:
        if self._passwords is not None:
            expected = self._passwords.get(link.username)
            known = expected is not None and hmac.compare_digest(expected, link.password)
            if not known or not may_connect(link.username, link.client_id):
                msg = f"the memory broker refused {link.username} as {link.client_id}: not authorised"
                raise LinkError(msg, refused=True)
        if link.client_id in self._refused:
            msg = f"the memory broker refuses {link.client_id} (a partition)"
            raise LinkError(msg)
        older = self.links.get(link.client_id)
        if older is not None:
            older.lose()  # a newer connection with the same client id takes over
        self.links[link.client_id] = link

    def _disconnect(self, link: MemoryLink) -> None:
        if self.links.get(link.client_id) is link:
            del self.links[link.client_id]
        self._changed()

    def route(self, sender: str, message: Message) -> None:
        """Deliver what ``sender`` (a username) published to every connection that wants it."""
        if self.policy is not None and not self.policy.may_publish(sender, message.topic):
            log.info("memory broker: %s may not publish %s (dropped)", sender, message.topic)
            return
        self.activity += 1
        self.published.append(message)
        if message.retain:
            if message.payload:
                self.retained[message.topic] = message
            else:
                self.retained.pop(message.topic, None)
        for link in list(self.links.values()):
            qos = link.granted(message.topic)
            if qos is not None and self.may_receive(link, message.topic):
                link.deliver(Message(message.topic, message.payload, min(qos, message.qos), retain=False))

    def may_receive(self, link: MemoryLink, topic: str) -> bool:
        return self.policy is None or self.policy.may_receive(link.username, topic)

    def may_subscribe(self, link: MemoryLink, topic_filter: str) -> bool:
        return self.policy is None or self.policy.may_subscribe(link.username, topic_filter)

    # -- Quiescer ---------------------------------------------------------------------------------
    def _changed(self) -> None:
        self._quiet.set()

    @property
    def quiet(self) -> bool:
        """Every connection has read everything routed to it, and its client handled it."""
        return all(link.quiet for link in self.links.values())

    def attach(self, wake: Callable[[], None]) -> None:
        """Nothing to do: handlers run as messages arrive, in publish order."""

    async def quiesce(self) -> None:
        """Return once every client has handled every message routed to it."""
        while True:
            for _ in range(4):
                await asyncio.sleep(0)
            self._quiet.clear()
            if self.quiet:
                return
            await self._quiet.wait()


class MemoryLink:
    """One connection to a ``MemoryBroker``: a ``Link`` (broker/client.py)."""

    def __init__(self, broker: MemoryBroker, login: Login, client_id: str, will: Will | None) -> None:
        self.broker = broker
        self.username = login.username
        self.password = login.password
        self.client_id = client_id
        self._will = will
        self._filters: dict[str, int] = {}  # filter -> granted QoS
        self._queue: asyncio.Queue[Message | None] = asyncio.Queue()  # None: the connection is gone
        self._reading = False  # its client holds a message it read (is handling it)
        self._up = False
        self._gone = asyncio.Event()

    @property
    def quiet(self) -> bool:
        return not self._up or (self._queue.empty() and not self._reading)

    async def __aenter__(self) -> MemoryLink:
        self.broker._connect(self)
        self._up = True
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """A DISCONNECT: gone without its last will."""
        self._close()

    def _close(self) -> None:
        self._up = False
        self._reading = False
        self._gone.set()
        self.broker._disconnect(self)

    def lose(self) -> None:
        """Lost without a DISCONNECT: the broker publishes the last will."""
        if not self._up:
            return
        self._close()
        while not self._queue.empty():  # what it had not read is gone with the connection
            self._queue.get_nowait()
        self._queue.put_nowait(None)
        will = self._will
        if will is not None:
            self.broker.route(self.username, Message(will.topic, will.payload, will.qos, will.retain))

    def _check(self) -> None:
        if not self._up:
            msg = "the connection was lost"
            raise LinkError(msg)

    def granted(self, topic: str) -> int | None:
        """The QoS this connection gets ``topic`` at (the highest of its matching filters), or None."""
        found = [qos for topic_filter, qos in self._filters.items() if matches(topic, topic_filter)]
        return max(found) if found else None

    def deliver(self, message: Message) -> None:
        self._queue.put_nowait(message)

    async def subscribe(self, topic_filter: str, qos: int) -> list[int]:
        self._check()
        if not self.broker.may_subscribe(self, topic_filter):
            return [_SUBACK_REFUSED]
        self._filters[topic_filter] = qos
        for message in list(self.broker.retained.values()):
            if matches(message.topic, topic_filter) and self.broker.may_receive(self, message.topic):
                self.deliver(Message(message.topic, message.payload, min(qos, message.qos), retain=True))
        return [qos]

    async def unsubscribe(self, topic_filter: str) -> None:
        self._check()
        self._filters.pop(topic_filter, None)

    async def publish(self, topic: str, payload: bytes, *, qos: int, retain: bool) -> None:
        self.publish_nowait(topic, payload, qos=qos, retain=retain)

    def publish_nowait(self, topic: str, payload: bytes, *, qos: int, retain: bool, acked: Acked | None = None) -> None:
        self._check()
        self.broker.route(self.username, Message(topic, payload, qos, retain))
        if acked is not None:
            acked(True)  # routed: the broker has it

    async def messages(self) -> AsyncGenerator[Message, None]:
        try:
            while True:
                self._reading = False
                if self._queue.empty():
                    self.broker._changed()
                message = await self._queue.get()
                if message is None:
                    msg = "the connection was lost"
                    raise LinkError(msg)
                self._reading = True
                yield message
        finally:
            self._reading = False
            self.broker._changed()

    async def lost(self) -> None:
        await self._gone.wait()

"""An in-memory bus for unit tests: the transport seam, like httpx's MockTransport.

``MemoryBroker`` routes messages between ``MemoryBus`` clients in this process with MQTT's
topic matching, retained messages, last wills and the same access-control ``Policy`` as the real
brokers (when given one). Each client gets its messages in order through its own queue, handled
one at a time, exactly like ``BusClient``. It also tells a ``VirtualClock`` when everything is
quiet (``activity`` and ``quiesce``), so device and flow tests run in virtual time without a
broker process. Integration tests still run against amqtt and Mosquitto.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from paho.mqtt.client import topic_matches_sub

from hyperhome.broker.client import Handler, Message, Payload, Will, _call, encode
from hyperhome.broker.credentials import Login
from hyperhome.errors import BusError, ForbiddenError, NotConnectedError

if TYPE_CHECKING:
    from types import TracebackType

    from hyperhome.broker.acl import Policy

log = logging.getLogger(__name__)
_ids = itertools.count(1)


class MemoryBroker:
    """Routes messages between in-process ``MemoryBus`` clients; see the module docstring."""

    def __init__(self, policy: Policy | None = None) -> None:
        self.policy = policy
        self.retained: dict[str, Message] = {}
        self.clients: dict[str, MemoryBus] = {}
        self.activity = 0
        self.published: list[Message] = []
        self._idle = asyncio.Event()
        self._idle.set()

    def client(
        self,
        username: str = "test",
        *,
        will: Will | None = None,
        client_id: str | None = None,
        on_connect: Callable[[], Awaitable[None]] | None = None,
    ) -> MemoryBus:
        return MemoryBus(self, username, will=will, client_id=client_id, on_connect=on_connect)

    def connector(
        self,
        login: Login,
        *,
        client_id: str | None = None,
        will: Will | None = None,
        on_connect: Callable[[], Awaitable[None]] | None = None,
        sync_name: str | None = None,
    ) -> MemoryBus:
        """A ``Connector``: pass ``broker.connector`` where a device or controller wants one."""
        return self.client(login.username, will=will, client_id=client_id, on_connect=on_connect)

    def route(self, sender: MemoryBus, message: Message) -> None:
        if self.policy is not None and not self.policy.may_publish(sender.username, message.topic):
            log.info("memory broker: %s may not publish %s (dropped)", sender.username, message.topic)
            return
        self.activity += 1
        self.published.append(message)
        if message.retain:
            if message.payload:
                self.retained[message.topic] = message
            else:
                self.retained.pop(message.topic, None)
        for client in list(self.clients.values()):
            client.offer(Message(message.topic, message.payload, message.qos, retain=False))

    def may_receive(self, client: MemoryBus, topic: str) -> bool:
        return self.policy is None or self.policy.may_receive(client.username, topic)

    def _update_idle(self) -> None:
        if all(c.idle for c in self.clients.values()):
            self._idle.set()
        else:
            self._idle.clear()

    def attach(self, wake: Callable[[], None]) -> None:
        """Nothing to do: handlers run as messages are published, in publish order."""

    async def quiesce(self) -> None:
        """Return once every client has handled every message routed to it."""
        while True:
            for _ in range(4):
                await asyncio.sleep(0)
            self._update_idle()
            if self._idle.is_set():
                return
            await self._idle.wait()


class MemoryBus:
    """A client of ``MemoryBroker`` with ``BusClient``'s interface."""

    def __init__(
        self,
        broker: MemoryBroker,
        username: str,
        *,
        will: Will | None = None,
        client_id: str | None = None,
        on_connect: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.broker = broker
        self._on_connect = on_connect
        self.username = username
        self.client_id = client_id or f"{username}-mem{next(_ids)}"
        self._will = will
        self._filters: dict[str, list[Handler]] = {}
        self._queue: asyncio.Queue[Message] = asyncio.Queue()
        self._busy = False
        self._task: asyncio.Task[None] | None = None
        self.connects = 0

    @property
    def connected(self) -> bool:
        return self._task is not None

    @property
    def idle(self) -> bool:
        return self._queue.empty() and not self._busy

    async def __aenter__(self) -> MemoryBus:
        if self._task is not None:
            msg = "MemoryBus is not reentrant"
            raise BusError(msg)
        self.broker.clients[self.client_id] = self
        self._task = asyncio.create_task(self._loop(), name=f"membus:{self.client_id}")
        self.connects += 1
        for topic_filter in self._filters:
            self._send_retained(topic_filter)
        if self._on_connect is not None:
            await self._on_connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        task = self._task
        self._disconnect()
        if task is not None and task is not asyncio.current_task():
            await asyncio.wait({task})  # cancelled: it ends at its next await, and no later

    def _disconnect(self) -> None:
        self.broker.clients.pop(self.client_id, None)
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
        self._busy = False
        self.broker._update_idle()

    def drop_connection(self) -> None:
        """Vanish without a goodbye: the broker publishes the last will."""
        self._disconnect()
        if self._will is not None:
            will = self._will
            self.broker.route(self, Message(will.topic, will.payload, will.qos, will.retain))

    async def subscribe(self, topic_filter: str, handler: Handler, qos: int = 1) -> None:
        policy = self.broker.policy
        if policy is not None and not policy.may_subscribe(self.username, topic_filter):
            msg = f"{self.username} may not subscribe to {topic_filter}"
            raise ForbiddenError(msg)
        handlers = self._filters.setdefault(topic_filter, [])
        handlers.append(handler)
        if self.connected and len(handlers) == 1:
            self._send_retained(topic_filter)

    async def unsubscribe(self, topic_filter: str, handler: Handler | None = None) -> None:
        handlers = self._filters.get(topic_filter, [])
        if handler is not None and handler in handlers:
            handlers.remove(handler)
        if handler is None or not handlers:
            self._filters.pop(topic_filter, None)

    def _send_retained(self, topic_filter: str) -> None:
        for message in list(self.broker.retained.values()):
            if topic_matches_sub(topic_filter, message.topic) and self.broker.may_receive(self, message.topic):
                self._queue.put_nowait(message)
        self.broker._update_idle()

    async def publish(self, topic: str, payload: Payload = None, *, qos: int = 1, retain: bool = False) -> None:
        if not self.connected:
            msg = f"{self.client_id} is not connected; cannot publish to {topic}"
            raise NotConnectedError(msg)
        self.broker.route(self, Message(topic, encode(payload), qos, retain))

    def offer(self, message: Message) -> None:
        if any(topic_matches_sub(f, message.topic) for f in self._filters) and self.broker.may_receive(
            self, message.topic
        ):
            self._queue.put_nowait(message)
            self.broker._update_idle()

    async def _loop(self) -> None:
        while True:
            message = await self._queue.get()
            self._busy = True
            try:
                for topic_filter, handlers in list(self._filters.items()):
                    if topic_matches_sub(topic_filter, message.topic):
                        for handler in list(handlers):
                            await _call(handler, message, self.client_id, topic_filter)
            finally:
                self._busy = False
                self.broker._update_idle()

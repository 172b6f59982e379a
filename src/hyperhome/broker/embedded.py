"""The embedded broker: amqtt 0.12 in-process, with the contract's logins and access control.

```python
async with EmbeddedBroker([creds]) as broker:      # a free port on 127.0.0.1
    print(broker.host, broker.port)
```

``restart(down_s)`` shuts amqtt down and starts a new one in this process on the same port, for
outage tests and the scenario fault ``{broker: restart}``: like the managed Mosquitto (which runs
with ``persistence false``), it comes back with no retained message and no session.

Only two amqtt plugins are loaded, both ours: ``LoginPlugin`` (a known username with its
password, nothing else) and ``AccessPlugin`` (the rules of ``acl.Policy``). amqtt's defaults
(anonymous access, ``$SYS``, packet logging) are not. Both plugins read one shared
``AccessTable``, handed to them through their ``Config`` dataclass, so ``add_home`` works
while the broker runs. A client id belongs to its login (``identity.py``): a CONNECT with
another login's client id is refused like a wrong password.

amqtt 0.12.1 faults worked around here (see ``_Broker`` and ``LoginPlugin``):

- a CONNECT is authenticated only after amqtt has deleted (clean session) or rewritten
  (persistent session) the session of its client id: a refused CONNECT with a device's client
  id left that device connected but deaf, and a valid login with another's client id and a
  persistent session was handed that session, with the subscriptions and retained messages its
  own rules forbid. Every CONNECT is judged first here (``_Broker._initialize_client_session``);
- a client that connects is sent the retained messages of *every* session's subscriptions,
  not only its own, which would leak another home's retained state past access control;
- a SUBSCRIBE arriving while a message is being delivered can make amqtt lose that message
  ("dictionary changed size during iteration" inside its delivery loop);
- a client's last will is published without a publish check; a will on a topic the login
  may not publish is dropped at connect (as Mosquitto does when it would send it);
- a connection the client reset is never closed on the broker's side (a ResourceWarning);
- ``shutdown`` with clients connected (that reconnect at once) does not finish: ``restart``
  first stops listening and cuts every connection, as a crashed broker would (``_Broker.crash``).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from amqtt.adapters import ReaderAdapter
from amqtt.broker import Broker
from amqtt.contexts import Action, BrokerConfig, ListenerConfig, ListenerType
from amqtt.errors import BrokerError as AmqttBrokerError
from amqtt.errors import PluginError, PluginLoadError
from amqtt.mqtt.connack import NOT_AUTHORIZED, ConnackPacket
from amqtt.mqtt.connect import ConnectPacket
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
from amqtt.session import Session

from hyperhome.broker.acl import Policy
from hyperhome.broker.identity import bound_client_id
from hyperhome.broker.restart import WhileDown, stay_down
from hyperhome.errors import BrokerError

if TYPE_CHECKING:
    from asyncio import StreamReader, StreamWriter
    from types import TracebackType

    from amqtt.adapters import WriterAdapter
    from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler

    from hyperhome.broker.credentials import HomeCredentials

SHUTDOWN_TIMEOUT_S = 5.0
_CACHE_LIMIT = 100_000
_STARTUP_FAILURE = "Broker startup failed"


class AccessTable:
    """Passwords and access rules of every login, shared by the two plugins of one broker."""

    def __init__(self) -> None:
        self._passwords: dict[str, bytes] = {}
        self._client_ids: dict[str, str] = {}
        self._policy = Policy()
        self._checks: dict[str, Callable[[str | None, str], bool]] = {
            Action.PUBLISH: self._policy.may_publish,
            Action.SUBSCRIBE: self._policy.may_subscribe,
            Action.RECEIVE: self._policy.may_receive,
        }
        self._decisions: dict[tuple[str, str | None, str], bool] = {}

    def add_home(self, creds: HomeCredentials) -> None:
        for login, principal in creds.logins():
            self._passwords[login.username] = login.password.encode()
            self._client_ids[login.username] = bound_client_id(principal)
            self._policy.add(login.username, principal, creds.root)
        self._decisions.clear()

    def authenticate(self, username: str | None, password: str | None) -> bool:
        expected = self._passwords.get(username or "")
        if expected is None or password is None:
            return False
        return hmac.compare_digest(expected, password.encode())

    def admits(self, username: str | None, password: str | None, client_id: str | None) -> bool:
        """A known login with its password, connecting with its own client id (identity.py)."""
        return self.authenticate(username, password) and client_id == self._client_ids.get(username or "")

    def allows(self, action: str, username: str | None, topic: str) -> bool:
        """The policy's answer for one action, remembered (it is asked on every delivery)."""
        key = (action, username, topic)
        decision = self._decisions.get(key)
        if decision is None:
            check = self._checks.get(action)
            decision = check is not None and check(username, topic)
            if len(self._decisions) >= _CACHE_LIMIT:
                self._decisions.clear()
            self._decisions[key] = decision
        return decision


class LoginPlugin(BaseAuthPlugin):  # type: ignore[misc]
    """Lets a client in only with a known username and its password; drops forbidden wills."""

    @dataclass
    class Config:
        table: AccessTable

    async def authenticate(self, *, session: Session) -> bool:
        table: AccessTable = self.config.table
        if not table.authenticate(session.username, session.password):
            return False
        if session.will_flag and not table.allows(Action.PUBLISH, session.username, session.will_topic or ""):
            session.will_flag = False
        return True


class AccessPlugin(BaseTopicPlugin):  # type: ignore[misc]
    """Publish, subscribe and receive decided by the contract's rules (``acl.Policy``)."""

    @dataclass
    class Config:
        table: AccessTable

    def decide(self, session: Session | None, topic: str | None, action: Action | None) -> bool:
        if session is None or topic is None or action is None:
            return False
        table: AccessTable = self.config.table
        return table.allows(action, session.username, topic)

    async def topic_filtering(
        self, *, session: Session | None = None, topic: str | None = None, action: Action | None = None
    ) -> bool:
        return self.decide(session, topic, action)


class _Broker(Broker):  # type: ignore[misc]
    """amqtt's broker with amqtt 0.12.1 faults worked around (private methods overridden).

    - Topic checks: amqtt runs every topic plugin in a new task and awaits them, inside its loop
      over the subscription table for each message. A SUBSCRIBE to a new filter during that
      wait raises "dictionary changed size during iteration" and the message is lost for every
      later filter. Asking ``AccessPlugin.decide`` directly never yields, and is faster.
    - Retained messages: a connecting client is sent the retained messages of every filter any
      session holds; only its own subscriptions count here.
    - Sockets: when a client has already reset the connection, amqtt's ``write_eof`` fails and it
      never closes the socket (a ResourceWarning later); each connection is closed when done.
    - Identity: see ``_initialize_client_session``.
    """

    def __init__(self, config: BrokerConfig, table: AccessTable) -> None:
        super().__init__(config)
        access = self.plugins_manager.get_plugin(AccessPlugin.__name__)
        assert isinstance(access, AccessPlugin)
        self._access = access
        self._table = table
        self._connections: set[StreamWriter] = set()

    async def _initialize_client_session(
        self, reader: ReaderAdapter, writer: WriterAdapter, remote_address: str, remote_port: int
    ) -> tuple[BrokerProtocolHandler | None, Session]:
        """Judge the CONNECT before amqtt touches the session stored under its client id.

        amqtt's own method reads the CONNECT and at once deletes (clean session) or takes over
        and rewrites (persistent session) the session of that client id; the login is checked
        later, in ``_handle_client_session``. No plugin hook runs in between (``PACKET_RECEIVED``
        is fired as a task nobody waits for), so this override reads the CONNECT first, from a
        reader that records what it read, and decides: a login with its password and its own
        client id goes on to amqtt's unchanged method, which re-reads the same bytes from a
        replay of them and then finds, at most, a session of that same login (its reconnect); any
        other CONNECT gets CONNACK 5 ("not authorised", what a wrong password gets from both
        brokers) and its connection is closed, with nothing of the session table read or
        written. A CONNECT that does not parse is replayed to amqtt, which refuses it as before.
        """
        recorded = _Recording(reader)
        try:
            connect = await ConnectPacket.from_stream(recorded)
        except Exception:  # not a CONNECT we can judge: amqtt refuses it its own way
            connect = None
        if connect is not None and not self._table.admits(connect.username, connect.password, connect.client_id):
            await _refuse(writer)
            return None, _REFUSED
        replay = _Replay(recorded.data, reader)
        return await super()._initialize_client_session(replay, writer, remote_address, remote_port)  # type: ignore[no-any-return]

    async def _handle_client_session(
        self,
        reader: ReaderAdapter,
        writer: WriterAdapter,
        client_session: Session,
        handler: BrokerProtocolHandler | None,
        server: object,
        listener_name: str,
    ) -> None:
        if client_session is _REFUSED:
            return  # refused in _initialize_client_session; amqtt's caller releases the connection
        await super()._handle_client_session(reader, writer, client_session, handler, server, listener_name)

    async def stream_connected(self, reader: StreamReader, writer: StreamWriter, listener_name: str) -> None:
        self._connections.add(writer)
        try:
            await super().stream_connected(reader, writer, listener_name)
        finally:
            self._connections.discard(writer)
            writer.close()

    def crash(self) -> None:
        """Stop as a broker process that dies would: listen no more, send no last will, and cut
        every connection (a reset, no DISCONNECT); ``shutdown`` then only tidies up."""
        for server in self._servers.values():
            if isinstance(server.instance, asyncio.Server):
                server.instance.close()
        for session, _handler in self._sessions.values():
            session.will_flag = False
        for writer in list(self._connections):
            writer.transport.abort()

    async def _topic_filtering(self, session: Session, topic: str, action: Action) -> bool:
        return self._access.decide(session, topic, action)

    async def _publish_retained_messages_for_subscription(
        self, subscription: tuple[str, int], session: Session
    ) -> None:
        topic_filter = subscription[0]
        holders = self.subscriptions.get(topic_filter, ())
        if any(holder.client_id == session.client_id for holder, _qos in holders):
            await super()._publish_retained_messages_for_subscription(subscription, session)

    def bound_port(self) -> int | None:
        server = self._servers.get("default")
        sockets = getattr(getattr(server, "instance", None), "sockets", None) or ()
        for sock in sockets:
            return int(sock.getsockname()[1])
        return None


_REFUSED = Session()
"""The session ``_Broker._initialize_client_session`` answers for a refused CONNECT (never stored)."""


async def _refuse(writer: WriterAdapter) -> None:
    try:
        await ConnackPacket.build(0, NOT_AUTHORIZED).to_stream(writer)
    except OSError:
        pass  # the client is gone already
    finally:
        await writer.close()


class _Recording(ReaderAdapter):  # type: ignore[misc]
    """Reads through ``inner`` and keeps every byte read (the CONNECT, to replay to amqtt)."""

    def __init__(self, inner: ReaderAdapter) -> None:
        self._inner = inner
        self.data = bytearray()

    async def read(self, n: int = -1) -> bytes:
        data: bytes = await self._inner.read(n)
        self.data += data
        return data

    def feed_eof(self) -> None:
        self._inner.feed_eof()


class _Replay(ReaderAdapter):  # type: ignore[misc]
    """Serves ``head`` first, then reads from ``inner``."""

    def __init__(self, head: bytes | bytearray, inner: ReaderAdapter) -> None:
        self._head = bytes(head)
        self._inner = inner

    async def read(self, n: int = -1) -> bytes:
        if not self._head:
            data: bytes = await self._inner.read(n)
            return data
        if n < 0:
            head, self._head = self._head, b""
            rest: bytes = await self._inner.read(n)
            return head + rest
        head, self._head = self._head[:n], self._head[n:]
        if len(head) < n:
            more: bytes = await self._inner.read(n - len(head))
            head += more
        return head

    def feed_eof(self) -> None:
        self._inner.feed_eof()


class _DropStartupTraceback(logging.Filter):
    """amqtt logs a traceback when it cannot start; we raise a BrokerError that says it instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != _STARTUP_FAILURE


class _DropShutdownLeftovers(logging.Filter):
    """At shutdown amqtt warns "N messages not broadcasted": the last ``$availability`` and state
    messages of clients that have already gone. Nobody is left to receive them; not worth a warning."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).endswith("messages not broadcasted")


class _QuietAmqtt:
    """amqtt logs every connection at INFO; hold its logger at WARNING while brokers run.

    Only when nobody configured the ``amqtt`` logger (level NOTSET); restored by the last broker.
    """

    users = 0
    changed = False

    @classmethod
    def acquire(cls) -> None:
        logger = logging.getLogger("amqtt")
        if cls.users == 0 and logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)
            cls.changed = True
        cls.users += 1

    @classmethod
    def release(cls) -> None:
        cls.users -= 1
        if cls.users == 0 and cls.changed:
            logging.getLogger("amqtt").setLevel(logging.NOTSET)
            cls.changed = False


def _config(table: AccessTable, host: str, port: int) -> BrokerConfig:
    plugins = {f"{__name__}.{plugin.__name__}": {"table": table} for plugin in (LoginPlugin, AccessPlugin)}
    listener = ListenerConfig(type=ListenerType.TCP, bind=f"{host}:{port}")
    return BrokerConfig(listeners={"default": listener}, plugins=plugins)


class EmbeddedBroker:
    """amqtt in this process and event loop, an async context manager; see the module docstring.

    ``port=None`` lets the OS pick a free port; ``.host`` and ``.port`` say where it listens once
    entered. Errors at start (port in use, ...) raise ``BrokerError``.
    """

    def __init__(self, homes: Iterable[HomeCredentials], *, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self._requested_port = port
        self.port: int | None = None
        self._table = AccessTable()
        for creds in homes:
            self._table.add_home(creds)
        self._broker: _Broker | None = None

    def add_home(self, creds: HomeCredentials) -> None:
        """Let the logins of another home in (works before and while the broker runs)."""
        self._table.add_home(creds)

    async def __aenter__(self) -> EmbeddedBroker:
        if self._broker is not None:
            msg = "this EmbeddedBroker is already running"
            raise BrokerError(msg)
        _QuietAmqtt.acquire()
        try:
            self._broker = await self._start()
        except BaseException:
            _QuietAmqtt.release()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        broker, self._broker = self._broker, None
        try:
            if broker is not None:
                await _quiet_shutdown(broker)
        finally:
            _QuietAmqtt.release()

    async def restart(self, down_s: float = 0, *, while_down: WhileDown | None = None) -> None:
        """Shut the broker down, stay down ``down_s`` wall-clock seconds, and start it again on its port.

        Every connection is closed and the broker forgets its retained messages and sessions, as
        the managed Mosquitto does when it is killed (``persistence false``): what clients own, they
        republish when they reconnect. Returns once the new broker listens on the same host and
        port (the clients reconnect by themselves, with their backoff). ``while_down`` is awaited
        while the broker is down (its time counts towards ``down_s``), for a test to act in the
        outage. BrokerError if it is not running or cannot start again (its port was taken).
        """
        broker, port = self._broker, self.port
        if broker is None or port is None:
            msg = "this EmbeddedBroker is not running; nothing to restart"
            raise BrokerError(msg)
        self._broker = None
        broker.crash()
        await _quiet_shutdown(broker)
        await stay_down(down_s, while_down)
        self._broker = await self._start(port)

    async def _start(self, port: int | None = None) -> _Broker:
        port = port if port is not None else self._requested_port
        where = f"{self.host}:{port or 'any free port'}"
        config = _config(self._table, self.host, port or 0)
        amqtt_logger = logging.getLogger("amqtt.broker")
        quiet = _DropStartupTraceback()
        amqtt_logger.addFilter(quiet)
        try:
            broker = _Broker(config, self._table)
            await broker.start()
        except (AmqttBrokerError, PluginError, PluginLoadError, OSError) as exc:
            reason = exc.__cause__ or exc
            msg = f"embedded broker could not start on {where}: {reason}"
            raise BrokerError(msg) from None
        finally:
            amqtt_logger.removeFilter(quiet)
        self.port = broker.bound_port()
        if self.port is None:
            await _shutdown(broker)
            msg = f"embedded broker started on {where} but amqtt does not say which port it bound"
            raise BrokerError(msg)
        return broker


async def _quiet_shutdown(broker: _Broker) -> None:
    amqtt_logger = logging.getLogger("amqtt.broker")
    leftovers = _DropShutdownLeftovers()
    amqtt_logger.addFilter(leftovers)
    try:
        await _shutdown(broker)
    finally:
        amqtt_logger.removeFilter(leftovers)


async def _shutdown(broker: _Broker) -> None:
    try:
        async with asyncio.timeout(SHUTDOWN_TIMEOUT_S):
            await broker.shutdown()
    except TimeoutError:
        msg = f"embedded broker did not stop within {SHUTDOWN_TIMEOUT_S:g} s"
        raise BrokerError(msg) from None
    except AmqttBrokerError as exc:
        msg = f"embedded broker did not stop cleanly: {exc}"
        raise BrokerError(msg) from None


__all__ = ["AccessPlugin", "AccessTable", "EmbeddedBroker", "LoginPlugin"]

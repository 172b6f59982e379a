"""Starting and stopping both brokers: where they listen, what they leave behind, how they fail."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import json
import os
import re
import signal
import socket
import stat
import sys
import textwrap
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import aiomqtt
import amqtt
import pytest

from hyperhome.broker.credentials import HomeCredentials, Login, controller_seats
from hyperhome.broker.embedded import EmbeddedBroker
from hyperhome.broker.launch import BrokerChoice, open_broker
from hyperhome.broker.mosquitto import MosquittoBroker
from hyperhome.errors import BrokerError, ConfigError

WAIT_S = 5.0
AMQTT_DIR = os.path.dirname(amqtt.__file__)

RunningBroker = EmbeddedBroker | MosquittoBroker
F = TypeVar("F", bound=Callable[..., object])


def mosquitto_only(test: F) -> F:
    """Run only with ``broker_kind`` "mosquitto" (skipped, or failed under CI, without the binary)."""
    marked: F = pytest.mark.mosquitto(pytest.mark.parametrize("broker_kind", ["mosquitto"], indirect=True)(test))
    return marked


def _broker(kind: str, homes: list[HomeCredentials], *, port: int | None = None) -> RunningBroker:
    return EmbeddedBroker(homes, port=port) if kind == "embedded" else MosquittoBroker(homes, port=port)


def _client(broker: RunningBroker, creds: HomeCredentials, login: Login | None = None) -> aiomqtt.Client:
    assert broker.port is not None
    login = login or creds.orchestrator
    return aiomqtt.Client(
        broker.host,
        broker.port,
        username=login.username,
        password=login.password,
        identifier=login.username,  # a login's one client id is its username
        protocol=aiomqtt.ProtocolVersion.V311,
        timeout=WAIT_S,
    )


async def _round_trip(broker: RunningBroker, creds: HomeCredentials) -> None:
    topic = f"hyperhome/{creds.home}/$orchestrator/event/ping"
    async with _client(broker, creds) as client:
        await client.subscribe(topic, qos=1)
        await client.publish(topic, b"ping", qos=1)
        message = await _next_message(client)
    assert message.payload == b"ping"


async def _next_message(client: aiomqtt.Client) -> aiomqtt.Message:
    async with asyncio.timeout(WAIT_S):
        return await anext(aiter(client.messages))


def _amqtt_tasks() -> set[asyncio.Task[object]]:
    """Pending tasks running amqtt code."""
    return {t for t in asyncio.all_tasks() if not t.done() and t.get_coro().cr_code.co_filename.startswith(AMQTT_DIR)}  # type: ignore[union-attr]


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port on 127.0.0.1 that something else listens on."""
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        yield squatter.getsockname()[1]


# -- embedded -------------------------------------------------------------------------------------


async def test_embedded_listens_on_loopback_only_on_a_free_port(homes: list[HomeCredentials]) -> None:
    async with EmbeddedBroker(homes) as broker:
        assert broker.host == "127.0.0.1"
        assert broker.port not in (None, 0, 1883)
        await _round_trip(broker, homes[0])
        # bound to 127.0.0.1, not 0.0.0.0: another loopback address is refused
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.2", broker.port)


async def test_embedded_stops_within_5_s_and_leaves_no_task(homes: list[HomeCredentials]) -> None:
    before = asyncio.all_tasks()
    broker = await EmbeddedBroker(homes).__aenter__()
    await _round_trip(broker, homes[0])
    still_connected = await _client(broker, homes[1]).__aenter__()
    assert _amqtt_tasks() != set()  # the filter does see the broker's tasks
    started = time.monotonic()
    await broker.__aexit__(None, None, None)
    assert time.monotonic() - started < 5
    assert _amqtt_tasks() == set()
    with pytest.raises(aiomqtt.MqttError):  # the client saw its connection end
        await _next_message(still_connected)
    await still_connected.__aexit__(None, None, None)
    await asyncio.sleep(0)  # one loop turn: the client's cancelled reader task finishes
    assert {t for t in asyncio.all_tasks() - before if not t.done()} == set()


async def test_two_embedded_brokers_run_side_by_side(homes: list[HomeCredentials]) -> None:
    async with EmbeddedBroker(homes[:1]) as first, EmbeddedBroker(homes[1:]) as second:
        assert first.port != second.port
        await _round_trip(first, homes[0])
        await _round_trip(second, homes[1])


async def test_embedded_lets_in_a_home_added_while_it_runs(homes: list[HomeCredentials]) -> None:
    async with EmbeddedBroker(homes[:1]) as broker:
        with pytest.raises(aiomqtt.MqttCodeError):
            await _round_trip(broker, homes[1])
        broker.add_home(homes[1])
        await _round_trip(broker, homes[1])


async def test_embedded_closes_each_connection_even_when_amqtt_fails_to(
    homes: list[HomeCredentials], monkeypatch: pytest.MonkeyPatch
) -> None:
    """amqtt 0.12 half-closes before closing; when that fails (ENOTCONN once the client has
    reset the connection, common at shutdown) it never closes the socket."""

    def not_connected(writer: asyncio.StreamWriter) -> None:
        raise OSError(errno.ENOTCONN, os.strerror(errno.ENOTCONN))

    monkeypatch.setattr(asyncio.StreamWriter, "write_eof", not_connected)
    async with EmbeddedBroker(homes) as broker:
        await _round_trip(broker, homes[0])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


# -- mosquitto ------------------------------------------------------------------------------------


@mosquitto_only
async def test_mosquitto_child_is_gone_and_files_removed_after_exit(
    broker_kind: str, homes: list[HomeCredentials]
) -> None:
    async with MosquittoBroker(homes) as broker:
        pid, workdir = broker.pid, broker.dir
        assert pid is not None
        assert workdir is not None
        assert stat.S_IMODE(workdir.stat().st_mode) == 0o700
        await _round_trip(broker, homes[0])
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not workdir.exists()


@mosquitto_only
async def test_mosquitto_writes_private_files_into_a_given_workdir(
    broker_kind: str, homes: list[HomeCredentials], tmp_path: Path
) -> None:
    workdir = tmp_path / "broker"
    async with MosquittoBroker(homes, workdir=workdir) as broker:
        conf = broker.conf_path.read_text()
        dynsec = json.loads(broker.dynsec_path.read_text())
        acl = broker.acl_path.read_text()
        modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in (broker.dynsec_path, broker.acl_path)}
    assert f"listener {broker.port} 127.0.0.1" in conf
    assert "allow_anonymous false" in conf
    assert f"plugin_opt_config_file {broker.dynsec_path}" in conf
    cam = homes[0].device("cam")
    (entry,) = [client for client in dynsec["clients"] if client["username"] == cam.username]
    assert entry["clientid"] == cam.username  # its one client id
    assert entry["roles"] == []  # the acl_file decides access
    assert cam.password not in broker.dynsec_path.name + json.dumps(dynsec)  # hashed, never the plain password
    assert f"user {cam.username}\ntopic write hyperhome/home-a/cam/$meta\n" in acl
    assert "topic read hyperhome/home-a/cam/cmd/#\n" in acl
    assert "user home-b.$orchestrator\ntopic write hyperhome/home-b/#\n" in acl
    assert modes == {"dynsec.json": 0o600, "acl": 0o600}
    assert stat.S_IMODE(workdir.stat().st_mode) == 0o700
    assert workdir.exists()  # the caller's directory is kept


@mosquitto_only
async def test_mosquitto_dies_with_its_owner_process(
    broker_kind: str, homes: list[HomeCredentials], tmp_path: Path
) -> None:
    owner_script = textwrap.dedent(
        """
        import asyncio, sys
        from pathlib import Path
        from hyperhome.broker.credentials import HomeCredentials
        from hyperhome.broker.mosquitto import MosquittoBroker

        async def main():
            homes = [HomeCredentials.generate("home-a", [])]
            async with MosquittoBroker(homes, workdir=Path(sys.argv[1])) as broker:
                print(broker.pid, flush=True)
                await asyncio.Event().wait()

        asyncio.run(main())
        """
    )
    owner = await asyncio.create_subprocess_exec(
        sys.executable, "-c", owner_script, str(tmp_path / "broker"), stdout=asyncio.subprocess.PIPE
    )
    assert owner.stdout is not None
    async with asyncio.timeout(WAIT_S * 2):
        child_pid = int(await owner.stdout.readline())
    child = os.pidfd_open(child_pid)
    try:
        owner.send_signal(signal.SIGKILL)  # no __aexit__, no finally: only the kernel can help
        await owner.wait()
        await _wait_exited(child)
    finally:
        os.close(child)


async def _wait_exited(pidfd: int) -> None:
    """A pidfd becomes readable when its process exits (reaped or not)."""
    loop = asyncio.get_running_loop()
    exited = asyncio.Event()
    loop.add_reader(pidfd, exited.set)
    try:
        async with asyncio.timeout(WAIT_S):
            await exited.wait()
    finally:
        loop.remove_reader(pidfd)


@mosquitto_only
async def test_mosquitto_exiting_at_start_raises_broker_error_with_its_output(
    broker_kind: str, homes: list[HomeCredentials], tmp_path: Path
) -> None:
    fake = tmp_path / "mosquitto"
    fake.write_text("#!/bin/sh\necho 'Error: Unable to open pwfile' >&2\nexit 3\n")
    fake.chmod(0o700)
    with pytest.raises(BrokerError, match=r"exited with code 3 at start: Error: Unable to open pwfile"):
        async with MosquittoBroker(homes, binary=str(fake)):
            pass


# -- both -----------------------------------------------------------------------------------------


async def test_a_port_in_use_raises_broker_error(
    broker_kind: str, homes: list[HomeCredentials], taken_port: int
) -> None:
    broker = _broker(broker_kind, homes, port=taken_port)
    with pytest.raises(BrokerError, match=rf"127\.0\.0\.1:{taken_port}.*[Aa]ddress already in use"):
        async with broker:
            pass


async def test_given_port_is_used(broker_kind: str, homes: list[HomeCredentials], free_port: int) -> None:
    broker = _broker(broker_kind, homes, port=free_port)
    async with broker:
        assert broker.port == free_port
        await _round_trip(broker, homes[0])


@pytest.fixture
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def test_no_message_is_lost_while_clients_subscribe(broker_kind: str, homes: list[HomeCredentials]) -> None:
    """amqtt 0.12 yields inside its loop over the subscription table when it asks the topic
    plugins; a SUBSCRIBE to a new filter meanwhile raised RuntimeError and lost that message
    for every filter later in the table."""
    home = homes[0]
    topic, messages = f"hyperhome/{home.home}/cam/event/tick", 20
    seats = [login for login, _who in controller_seats(home.home, home.controller)]  # a client id each
    async with _broker(broker_kind, homes) as broker, contextlib.AsyncExitStack() as stack:
        for seat in seats[:10]:  # a filter early in the table, with subscribers to ask about
            crowd = await stack.enter_async_context(_client(broker, home, seat))
            await crowd.subscribe(f"hyperhome/{home.home}/#", qos=1)
        observer = await stack.enter_async_context(_client(broker, home, seats[10]))
        await observer.subscribe(topic, qos=1)  # a filter later in the table
        newcomer = await stack.enter_async_context(_client(broker, home, seats[11]))
        publisher = await stack.enter_async_context(_client(broker, home, home.device("cam")))
        await asyncio.gather(
            *(publisher.publish(topic, str(i).encode(), qos=1) for i in range(messages)),
            *(newcomer.subscribe(f"hyperhome/{home.home}/dev{i}/state", qos=1) for i in range(messages)),
        )
        received = [await _next_message(observer) for _ in range(messages)]
        assert sorted(int(m.payload) for m in received) == list(range(messages))


# -- choosing a broker ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("embedded", BrokerChoice("embedded")),
        (" mosquitto ", BrokerChoice("mosquitto")),
        ("mqtt://broker.lan", BrokerChoice("url", "broker.lan", 1883)),
        ("mqtt://ha:s%40cret@10.0.0.2:1884", BrokerChoice("url", "10.0.0.2", 1884, "ha", "s@cret")),
        ("mqtt://ha@[::1]:1883/", BrokerChoice("url", "::1", 1883, "ha")),
    ],
)
def test_broker_choice_parses_names_and_urls(text: str, expected: BrokerChoice) -> None:
    assert BrokerChoice.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("amqtt", "use 'embedded', 'mosquitto', mqtt://"),
        ("ws://host", "use 'embedded', 'mosquitto', mqtt://"),
        ("mqtt://", "and nothing more"),
        ("mqtt://host/topic", "and nothing more"),
        ("mqtt://host:70000", "invalid port"),
        ("mqtt://host:0", "invalid port"),
        ("mqtt://:secret@host", "a password but no user name"),
    ],
)
def test_broker_choice_refuses_anything_else(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        BrokerChoice.parse(text)


def test_broker_choice_never_shows_the_password() -> None:
    choice = BrokerChoice.parse("mqtt://ha:secret@host:1884")
    assert choice.describe() == "mqtt://ha@host:1884"
    assert "secret" not in repr(choice)
    with pytest.raises(ConfigError) as refused:
        BrokerChoice.parse("mqtt://ha:secret@host/x")
    assert "secret" not in str(refused.value)


async def test_open_broker_at_a_url_starts_nothing_and_uses_the_urls_login(homes: list[HomeCredentials]) -> None:
    async with open_broker(BrokerChoice.parse("mqtt://ha:pw@broker.lan:1884"), homes) as ready:
        assert [(c.home, c.host, c.port) for c in ready] == [
            ("home-a", "broker.lan", 1884),
            ("home-b", "broker.lan", 1884),
        ]
        logins = {login for creds in ready for login, _principal in creds.logins()}
        assert logins == {Login(username="ha", password="pw")}
    assert homes[0].controller.username == "home-a.$controller"  # the caller's credentials are untouched


async def test_open_broker_fills_in_where_the_started_broker_listens(
    broker_kind: str, homes: list[HomeCredentials]
) -> None:
    async with open_broker(BrokerChoice.parse(broker_kind), homes) as ready:
        assert ready[0].host == "127.0.0.1"
        assert ready[0].port not in (0, 1883)
        assert ready[0].controller == homes[0].controller
        async with aiomqtt.Client(
            ready[0].host,
            ready[0].port,
            username=ready[0].orchestrator.username,
            password=ready[0].orchestrator.password,
            identifier=ready[0].orchestrator.username,
        ):
            pass


async def test_open_broker_refuses_a_port_for_a_url(homes: list[HomeCredentials]) -> None:
    with pytest.raises(ConfigError, match="put the port in the URL"):
        async with open_broker(BrokerChoice.parse("mqtt://broker.lan"), homes, port=1884):
            pass

"""The client at the edges of a connection, on both brokers: a write into a link that is already
dead, a client kicked by another connection with its id, and an acknowledgement that comes
after its waiter gave up. Each ends in a reconnect (or nothing at all) and no traceback."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

import paho.mqtt.client as paho
import pytest
from tests.conftest import RunningBroker

from hyperhome.broker.client import BusClient, Endpoint
from hyperhome.broker.credentials import HomeCredentials, Login, client_id_of
from hyperhome.broker.faults import LinkProxy
from hyperhome.broker.topics import Topics

WAIT_S = 10.0


class Connects:
    """Counts a client's connects (its ``on_connect``), with an event for each."""

    def __init__(self) -> None:
        self.count = 0
        self.changed = asyncio.Event()

    async def __call__(self) -> None:
        self.count += 1
        self.changed.set()

    async def reach(self, count: int) -> None:
        async with asyncio.timeout(WAIT_S):
            while self.count < count:
                self.changed.clear()
                await self.changed.wait()


@pytest.fixture
async def cam(running_broker: RunningBroker, homes: list[HomeCredentials]) -> AsyncIterator[tuple[BusClient, Connects]]:
    assert running_broker.port is not None
    creds = homes[0]
    connects = Connects()
    bus = BusClient(
        Endpoint(running_broker.host, running_broker.port),
        creds.device("cam"),
        client_id=client_id_of(creds.home, "cam"),
        on_connect=connects,
    )
    async with bus:
        yield bus, connects


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What was logged with a traceback (an error line alone, paho's "Broken pipe", is fine)."""
    return [r.getMessage() for r in caplog.records if r.exc_info is not None]


async def test_a_write_into_a_link_already_cut_reconnects_without_a_traceback(
    running_broker: RunningBroker, homes: list[HomeCredentials], caplog: pytest.LogCaptureFixture
) -> None:
    assert running_broker.port is not None
    creds, connects = homes[0], Connects()
    topic = Topics(creds.home).event("cam", "motion")
    async with LinkProxy("cam", running_broker.host, running_broker.port) as link:
        bus = BusClient(
            Endpoint(link.host, link.port),
            creds.device("cam"),
            client_id=client_id_of(creds.home, "cam"),
            on_connect=connects,
        )
        async with bus:
            with caplog.at_level(logging.WARNING):
                link.drop()  # reset; the client has not noticed yet when it writes
                async with writing(bus, topic):
                    await connects.reach(2)
    assert link.drops == 1
    assert tracebacks(caplog) == []


@contextlib.asynccontextmanager
async def writing(bus: BusClient, topic: str) -> AsyncIterator[None]:
    """Three publishes written at once, before the client reads anything: into a dead link, the
    first or the second write fails. Publishes a dead link swallowed wait in vain for the loss
    to be noticed; they are let go when the block ends."""
    publishes = [asyncio.ensure_future(bus.publish(topic, {"n": n}, qos=0)) for n in range(3)]
    await asyncio.sleep(0)  # they run now, before the loop polls the socket
    try:
        yield
    finally:
        for publish in publishes:
            publish.cancel()
        await asyncio.gather(*publishes, return_exceptions=True)


def take_over(port: int, login: Login, client_id: str) -> paho.Client:
    """Connect with ``client_id`` from a plain paho client, here, blocking, until the broker accepts it."""
    kicker = paho.Client(
        paho.CallbackAPIVersion.VERSION2,  # type: ignore[attr-defined]  # paho 2 exports it from enums
        client_id=client_id,
        protocol=paho.MQTTv311,
    )
    kicker.username_pw_set(login.username, login.password)
    kicker.connect("127.0.0.1", port)
    deadline = time.monotonic() + WAIT_S
    while not kicker.is_connected():
        assert time.monotonic() < deadline, "the broker did not accept the second connection"
        kicker.loop(0.05)
    return kicker


@pytest.mark.parametrize("broker_kind", [pytest.param("mosquitto", marks=pytest.mark.mosquitto)])
async def test_a_client_kicked_by_a_connection_with_its_id_reconnects_without_a_traceback(
    cam: tuple[BusClient, Connects],
    running_broker: RunningBroker,
    homes: list[HomeCredentials],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Mosquitto closes the older of two connections with one id (docs/protocol.md, "Names").

    The takeover is made while this event loop is blocked, so the kicked client writes into its
    closed link before it could read that it was closed, as a busy device does.
    """
    bus, connects = cam
    assert running_broker.port is not None
    topic = Topics(homes[0].home).event("cam", "motion")
    with caplog.at_level(logging.WARNING):
        kicker = take_over(running_broker.port, homes[0].device("cam"), bus.client_id)
        try:
            async with writing(bus, topic):
                await connects.reach(2)  # it takes its id back
        finally:
            kicker.disconnect()
    assert tracebacks(caplog) == []


async def test_an_acknowledgement_after_its_waiter_gave_up_is_dropped_quietly(
    running_broker: RunningBroker, homes: list[HomeCredentials]
) -> None:
    """On the transport under ``BusClient`` (``Endpoint.link``), where a subscribe can be given up."""
    assert running_broker.port is not None
    creds = homes[0]
    topics = Topics(creds.home)
    acks: list[logging.LogRecord] = []
    arrived = asyncio.Event()

    class Acks(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            text = record.getMessage()
            if "gave up waiting" in text or "Unexpected message ID" in text:  # ours, or aiomqtt's KeyError
                acks.append(record)
                arrived.set()

    handler = Acks(logging.DEBUG)
    logger = logging.getLogger("hyperhome.broker.client")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    endpoint = Endpoint(running_broker.host, running_broker.port)
    topic_filter = topics.cmd("cam", "x")
    link = endpoint.link(creds.device("cam"), client_id=client_id_of(creds.home, "cam"), will=None, keepalive_s=30)
    try:
        async with asyncio.timeout(WAIT_S), link:
            for call in (lambda: link.subscribe(topic_filter, 1), lambda: link.unsubscribe(topic_filter)):
                arrived.clear()
                waiting = asyncio.ensure_future(call())
                await asyncio.sleep(0)  # sent, and given up on before its acknowledgement is read
                waiting.cancel()
                await arrived.wait()
            # and the connection goes on: a publish is acknowledged
            await link.publish(topics.event("cam", "motion"), b"{}", qos=1, retain=False)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert len(acks) == 2
    assert [r for r in acks if r.exc_info is not None or r.levelno >= logging.WARNING] == []


async def test_idle_links_keep_alive_and_one_failing_housekeeping_stops_no_other(
    running_broker: RunningBroker, homes: list[HomeCredentials], broker_kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """paho's keepalive pings go out from one timer for every connection of the loop
    (``_Housekeeping``): a connection whose housekeeping raises loses only itself, the others
    still ping and are answered; Mosquitto then drops the silent one (amqtt does not enforce
    keepalives this tightly)."""
    assert running_broker.port is not None
    creds = homes[0]
    endpoint = Endpoint(running_broker.host, running_broker.port)
    keepalive_s = 1
    healthy = endpoint.link(
        creds.device("cam"), client_id=client_id_of(creds.home, "cam"), will=None, keepalive_s=keepalive_s
    )
    broken = endpoint.link(
        creds.device("lock"), client_id=client_id_of(creds.home, "lock"), will=None, keepalive_s=keepalive_s
    )

    def fails() -> int:
        msg = "housekeeping of this connection is broken"
        raise RuntimeError(msg)

    async with asyncio.timeout(2 * WAIT_S), healthy, broken:
        monkeypatch.setattr(broken._client._client, "loop_misc", fails)
        answered = asyncio.Event()
        paho_client = healthy._client._client
        handle_pingresp = paho_client._handle_pingresp

        def pingresp() -> object:
            answered.set()
            return handle_pingresp()

        monkeypatch.setattr(paho_client, "_handle_pingresp", pingresp)
        # idle: the healthy link's PINGREQ goes out after one keepalive period and is answered
        await asyncio.wait_for(answered.wait(), timeout=4 * keepalive_s)
        if broker_kind == "mosquitto":  # it drops a link silent for over 1.5 keepalive periods
            # (Mosquitto 2.0 looks at keepalives every few seconds: seen 4.6 s after the ping)
            await asyncio.wait_for(broken.lost(), timeout=10 * keepalive_s)
        await healthy.publish(Topics(creds.home).event("cam", "motion"), b"{}", qos=1, retain=False)

"""The contract's access control, enforced the same way by both brokers, seen by raw MQTT clients.

Every "nothing arrives" check is closed by a control message that does arrive, sent after the
forbidden one on a path that keeps their order (the same connection, or after a witness who may
see the forbidden message got it). So a test cannot pass just because it stopped looking.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiomqtt
import pytest

from hyperhome.broker.credentials import HomeCredentials, Login
from hyperhome.broker.embedded import EmbeddedBroker
from hyperhome.broker.faults import LinkProxy
from hyperhome.broker.mosquitto import MosquittoBroker
from hyperhome.broker.topics import Topics

WAIT_S = 5.0
FORGED = b"forged"
CONTROL = b"control"
GRANTED_QOS_1 = 1
SUBACK_FAILURE = 0x80

A, B = Topics("home-a"), Topics("home-b")

Seen = list[tuple[str, bytes]]
RunningBroker = EmbeddedBroker | MosquittoBroker


def _client(
    broker: RunningBroker, login: Login | None, *, will: aiomqtt.Will | None = None, via: LinkProxy | None = None
) -> aiomqtt.Client:
    """A raw client of ``broker`` (``via``: through that fault proxy)."""
    assert broker.port is not None
    return aiomqtt.Client(
        broker.host if via is None else via.host,
        broker.port if via is None else via.port,
        username=login.username if login else None,
        password=login.password if login else None,
        identifier=login.username if login else None,  # a login's one client id is its username
        protocol=aiomqtt.ProtocolVersion.V311,
        will=will,
        timeout=WAIT_S,
    )


@asynccontextmanager
async def connected(
    broker: RunningBroker,
    login: Login,
    *subscriptions: str,
    will: aiomqtt.Will | None = None,
    via: LinkProxy | None = None,
) -> AsyncIterator[aiomqtt.Client]:
    async with _client(broker, login, will=will, via=via) as client:
        for topic_filter in subscriptions:
            await client.subscribe(topic_filter, qos=1)
        yield client


async def seen_until(client: aiomqtt.Client, topic: str, payload: bytes = CONTROL) -> Seen:
    """Every (topic, payload) the client receives, up to and including ``topic`` with ``payload``."""
    seen: Seen = []
    async with asyncio.timeout(WAIT_S):
        async for message in client.messages:
            assert isinstance(message.payload, bytes)
            seen.append((str(message.topic), message.payload))
            if seen[-1] == (topic, payload):
                return seen
    pytest.fail("the client was disconnected before the control message arrived")


def forged(seen: Seen) -> Seen:
    return [item for item in seen if item[1] == FORGED]


# -- logging in ----------------------------------------------------------------------------------


async def test_anonymous_client_is_refused(running_broker: RunningBroker) -> None:
    with pytest.raises(aiomqtt.MqttCodeError) as refused:
        async with _client(running_broker, None):
            pass
    assert refused.value.rc == 135  # "not authorized" (3.1.1 CONNACK 5)


@pytest.mark.parametrize("who", ["wrong-password", "unknown-user", "other-homes-password"])
async def test_bad_credentials_are_refused(
    running_broker: RunningBroker, homes: list[HomeCredentials], who: str
) -> None:
    cam = homes[0].device("cam")
    login = {
        "wrong-password": Login(username=cam.username, password="not-" + cam.password),
        "unknown-user": Login(username="home-a.ghost", password=cam.password),
        "other-homes-password": Login(username=cam.username, password=homes[1].device("cam").password),
    }[who]
    with pytest.raises(aiomqtt.MqttCodeError) as refused:
        async with _client(running_broker, login):
            pass
    assert refused.value.rc == 135


# -- publishing ----------------------------------------------------------------------------------


async def test_device_state_reaches_the_orchestrator(
    running_broker: RunningBroker, homes: list[HomeCredentials]
) -> None:
    home = homes[0]
    async with connected(running_broker, home.orchestrator, A.everything) as orchestrator:
        async with connected(running_broker, home.device("cam")) as cam:
            await cam.publish(A.state("cam"), CONTROL, qos=1, retain=True)
            assert await seen_until(orchestrator, A.state("cam")) == [(A.state("cam"), CONTROL)]


@pytest.mark.parametrize(
    "topic",
    [
        pytest.param(A.cmd("lock", "unlock"), id="another-devices-cmd"),
        pytest.param(A.state("lock"), id="another-devices-state"),
        pytest.param(A.availability("lock"), id="another-devices-availability"),
        pytest.param(A.cmd("cam", "privacy"), id="its-own-cmd"),
        pytest.param(A.flow("f-1"), id="the-orchestrators-flow"),
    ],
)
async def test_device_cannot_publish_outside_its_own_topics(
    running_broker: RunningBroker, homes: list[HomeCredentials], topic: str
) -> None:
    home = homes[0]
    async with connected(running_broker, home.orchestrator, A.everything) as orchestrator:
        async with connected(running_broker, home.device("cam")) as cam:
            await cam.publish(topic, FORGED, qos=1)
            # the broker acknowledges and drops it; the connection stays up (both brokers)
            await cam.publish(A.state("cam"), CONTROL, qos=1)
            assert forged(await seen_until(orchestrator, A.state("cam"))) == []


async def test_controller_may_command_devices_but_not_fake_their_state(
    running_broker: RunningBroker, homes: list[HomeCredentials]
) -> None:
    home = homes[0]
    async with (
        connected(running_broker, home.orchestrator, A.everything) as orchestrator,
        connected(running_broker, home.device("lock"), A.cmd("lock", "#")) as lock,
        connected(running_broker, home.controller) as controller,
    ):
        await controller.publish(A.state("lock"), FORGED, qos=1)
        await controller.publish(A.cmd("lock", "unlock"), CONTROL, qos=1)
        assert forged(await seen_until(orchestrator, A.cmd("lock", "unlock"))) == []
        assert await seen_until(lock, A.cmd("lock", "unlock")) == [(A.cmd("lock", "unlock"), CONTROL)]


# -- subscribing and receiving -------------------------------------------------------------------


async def test_device_receives_nothing_of_another_home(
    running_broker: RunningBroker, homes: list[HomeCredentials], broker_kind: str
) -> None:
    home_a, home_b = homes
    async with (
        connected(running_broker, home_b.orchestrator, B.everything) as witness,
        connected(running_broker, home_b.device("cam")) as cam_b,
    ):
        await cam_b.publish(B.state("cam"), FORGED, qos=1, retain=True)  # retained before the attempt
        await seen_until(witness, B.state("cam"), FORGED)
        async with connected(running_broker, home_a.device("cam"), A.cmd("cam", "#")) as cam_a:
            (code,) = await cam_a.subscribe(B.everything, qos=1)
            # amqtt refuses in the SUBACK; Mosquitto's acl_file does not check subscriptions
            # (it grants them) and filters every delivery instead
            assert code == {"embedded": SUBACK_FAILURE, "mosquitto": GRANTED_QOS_1}[broker_kind]
            await cam_b.publish(B.state("cam"), FORGED, qos=1)
            await seen_until(witness, B.state("cam"), FORGED)
            async with connected(running_broker, home_a.orchestrator) as orchestrator_a:
                await orchestrator_a.publish(A.cmd("cam", "ping"), CONTROL, qos=1)
            assert forged(await seen_until(cam_a, A.cmd("cam", "ping"))) == []


async def test_orchestrator_sees_its_whole_home_and_nothing_of_another(
    running_broker: RunningBroker, homes: list[HomeCredentials], broker_kind: str
) -> None:
    home_a, home_b = homes
    async with (
        connected(running_broker, home_a.orchestrator, A.everything) as orchestrator_a,
        connected(running_broker, home_b.orchestrator, B.everything) as witness,
        connected(running_broker, home_b.device("lock")) as lock_b,
        connected(running_broker, home_a.device("lock")) as lock_a,
    ):
        (code,) = await orchestrator_a.subscribe("hyperhome/#", qos=1)
        assert code == {"embedded": SUBACK_FAILURE, "mosquitto": GRANTED_QOS_1}[broker_kind]
        await lock_b.publish(B.state("lock"), FORGED, qos=1)
        await seen_until(witness, B.state("lock"), FORGED)
        for topic in (A.meta("lock"), A.event("lock", "jammed"), A.reply("lock"), A.stream("lock", "door")):
            await lock_a.publish(topic, b"ok", qos=1)
        await lock_a.publish(A.state("lock"), CONTROL, qos=1)
        seen = await seen_until(orchestrator_a, A.state("lock"))
        assert [topic for topic, _ in seen] == [
            A.meta("lock"),
            A.event("lock", "jammed"),
            A.reply("lock"),
            A.stream("lock", "door"),
            A.state("lock"),
        ]


async def test_a_client_that_connects_later_gets_no_retained_message_it_may_not_read(
    running_broker: RunningBroker, homes: list[HomeCredentials]
) -> None:
    """amqtt 0.12 sends a new client the retained messages of every session's subscriptions."""
    home_a, home_b = homes
    async with (
        connected(running_broker, home_a.orchestrator, A.everything) as orchestrator_a,
        connected(running_broker, home_b.orchestrator, B.everything) as orchestrator_b,
    ):
        async with connected(running_broker, home_b.device("lock")) as lock_b:
            await lock_b.publish(B.state("lock"), FORGED, qos=1, retain=True)
        async with connected(running_broker, home_a.device("lock")) as lock_a:
            await lock_a.publish(A.state("lock"), FORGED, qos=1, retain=True)
        await seen_until(orchestrator_b, B.state("lock"), FORGED)
        await seen_until(orchestrator_a, A.state("lock"), FORGED)
        async with connected(running_broker, home_a.device("cam"), A.cmd("cam", "#")) as cam_a:
            await orchestrator_a.publish(A.cmd("cam", "ping"), CONTROL, qos=1)
            assert await seen_until(cam_a, A.cmd("cam", "ping")) == [(A.cmd("cam", "ping"), CONTROL)]


async def test_a_last_will_on_a_forbidden_topic_is_never_published(
    running_broker: RunningBroker, homes: list[HomeCredentials]
) -> None:
    home = homes[0]
    forged_will = aiomqtt.Will(A.cmd("lock", "unlock"), FORGED, qos=1, retain=False)
    honest_will = aiomqtt.Will(A.availability("lock"), CONTROL, qos=1, retain=False)
    assert running_broker.port is not None
    async with (
        connected(running_broker, home.orchestrator, A.everything) as orchestrator,
        LinkProxy("cam", running_broker.host, running_broker.port) as cam_link,
        LinkProxy("lock", running_broker.host, running_broker.port) as lock_link,
    ):
        async with (
            connected(running_broker, home.device("cam"), will=forged_will, via=cam_link) as cam,
            connected(running_broker, home.device("lock"), will=honest_will, via=lock_link) as lock,
        ):
            await cut(cam, cam_link)
            await cut(lock, lock_link)
        assert forged(await seen_until(orchestrator, A.availability("lock"))) == []


async def cut(client: aiomqtt.Client, link: LinkProxy) -> None:
    """Reset the client's link without a DISCONNECT (so the broker sends the will); wait until seen."""
    link.drop()
    with pytest.raises(aiomqtt.MqttError):
        await _drain(client)


async def _drain(client: aiomqtt.Client) -> None:
    async with asyncio.timeout(WAIT_S):
        async for _ in client.messages:
            pass

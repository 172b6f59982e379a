"""``restart(down_s)`` on both managed brokers: down for real, back on the same port, nothing retained."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import aiomqtt
import pytest

from hyperhome.broker.client import BusClient, Endpoint
from hyperhome.broker.credentials import HomeCredentials
from hyperhome.broker.embedded import EmbeddedBroker
from hyperhome.broker.mosquitto import MosquittoBroker
from hyperhome.errors import BrokerError, NotConnectedError

RunningBroker = EmbeddedBroker | MosquittoBroker
WAIT_S = 10.0


def _client(broker: RunningBroker, creds: HomeCredentials) -> aiomqtt.Client:
    assert broker.port is not None
    login = creds.orchestrator
    return aiomqtt.Client(
        broker.host,
        broker.port,
        username=login.username,
        password=login.password,
        identifier=login.username,
        timeout=WAIT_S,
    )


async def _retained(client: aiomqtt.Client, home: str, topic_filter: str) -> list[str]:
    """The retained topics the broker sends for ``topic_filter``: those before a marker published after."""
    marker = f"hyperhome/{home}/$orchestrator/event/marker"
    await client.subscribe(topic_filter, qos=1)
    await client.subscribe(marker, qos=1)
    await client.publish(marker, b"{}", qos=1)
    seen: list[str] = []
    async with asyncio.timeout(WAIT_S):
        async for message in client.messages:
            if str(message.topic) == marker:
                return seen
            seen.append(str(message.topic))
    return seen


async def _until_lost(client: aiomqtt.Client) -> Exception | None:
    try:
        async with asyncio.timeout(WAIT_S):
            async for _ in client.messages:
                pass
    except aiomqtt.MqttError as exc:
        return exc
    return None


async def _refused(broker: RunningBroker) -> bool:
    assert broker.port is not None
    try:
        _, writer = await asyncio.open_connection(broker.host, broker.port)
    except OSError:
        return True
    writer.close()
    return False


async def test_restart_takes_the_broker_down_and_brings_it_back_on_its_port_without_retained_messages(
    running_broker: RunningBroker, homes: list[HomeCredentials]
) -> None:
    creds = homes[0]
    topic = f"hyperhome/{creds.home}/$orchestrator/flow/f-1"
    async with _client(running_broker, creds) as client:
        await client.publish(topic, b'{"state": "running"}', qos=1, retain=True)
    port = running_broker.port
    refused: list[bool] = []

    async def while_down() -> None:
        refused.append(await _refused(running_broker))

    began = time.monotonic()
    await running_broker.restart(down_s=0.3, while_down=while_down)
    assert time.monotonic() - began >= 0.3
    assert refused == [True], "nothing listens while it is down"
    assert running_broker.port == port
    async with _client(running_broker, creds) as client:  # accepts again, the same logins
        assert await _retained(client, creds.home, topic) == [], "a restart keeps no retained message"


async def test_a_connected_client_loses_its_connection(
    running_broker: RunningBroker, homes: list[HomeCredentials]
) -> None:
    async with _client(running_broker, homes[0]) as victim:
        await running_broker.restart()
        assert isinstance(await _until_lost(victim), aiomqtt.MqttError)


async def test_restart_of_a_broker_that_is_not_running_says_so(broker_kind: str, homes: list[HomeCredentials]) -> None:
    broker: RunningBroker = EmbeddedBroker(homes) if broker_kind == "embedded" else MosquittoBroker(homes)
    with pytest.raises(BrokerError, match="not running; nothing to restart"):
        await broker.restart()
    with pytest.raises(BrokerError, match="down_s must be 0 or more"):
        async with broker:
            await broker.restart(down_s=-1)


async def test_a_publish_waiting_for_its_puback_fails_as_soon_as_the_broker_dies(
    mosquitto_available: None, homes: list[HomeCredentials]
) -> None:
    creds = homes[0]
    async with MosquittoBroker(homes) as broker:
        assert broker.port is not None
        assert broker.pid is not None
        async with BusClient(Endpoint(broker.host, broker.port), creds.orchestrator) as bus:
            os.kill(broker.pid, signal.SIGSTOP)  # it takes the PUBLISH but never answers it
            asyncio.get_running_loop().call_later(0.2, os.kill, broker.pid, signal.SIGKILL)
            began = time.monotonic()
            with pytest.raises(NotConnectedError, match="lost before the broker acknowledged it"):
                async with asyncio.timeout(5):  # not aiomqtt's wait for a PUBACK that never comes
                    await bus.publish(f"hyperhome/{creds.home}/$orchestrator/event/x", b"{}", qos=1)
            assert time.monotonic() - began < 2.0

"""A client that never gives up: a link cut again and again while a device announces itself.

Each reconnect runs the device's announcement (``$meta``, ``state``, ``$availability``); here
the link is cut in the middle of it, at a different point each time, a hundred times. An error
inside the hook (``NotConnectedError`` from a publish on the cut link) must end that session
only: the client reconnects, and at the end the device is online with its state republished.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from tests.conftest import RunningBroker

from hyperhome.broker.client import Backoff, Bus, BusClient, Endpoint, Message, MqttConnector, Will
from hyperhome.broker.credentials import HomeCredentials, Login
from hyperhome.broker.faults import LinkProxy
from hyperhome.broker.topics import Topics
from hyperhome.broker.wire import ONLINE
from hyperhome.devices.base import DeviceSpec
from hyperhome.devices.catalog import kind
from hyperhome.devices.clock import RealtimeClock
from hyperhome.errors import ForbiddenError

CYCLES = 100


@pytest.mark.timeout(120)
async def test_a_device_survives_its_link_cut_during_every_announcement(
    running_broker: RunningBroker, homes: list[HomeCredentials]
) -> None:
    creds = homes[0]
    assert running_broker.port is not None
    endpoint = Endpoint(running_broker.host, running_broker.port)
    topics = Topics(creds.home)
    cuts = 0
    async with RealtimeClock() as clock, LinkProxy("lock", running_broker.host, running_broker.port) as link:
        # the lock connects through the fault proxy, which cuts it during its announcements
        through_link = MqttConnector(Endpoint(link.host, link.port), backoff=Backoff(initial_s=0.001, maximum_s=0.01))
        lock = kind("lock")(DeviceSpec(id="lock", kind="lock"), home=creds.home, clock=clock)

        def connect(
            login: Login,
            *,
            client_id: str | None = None,
            will: Will | None = None,
            on_connect: Callable[[], Awaitable[None]] | None = None,
        ) -> Bus:
            assert on_connect is not None
            announce = on_connect  # the device's announcement ($meta, state, $availability)

            async def flapping_announce() -> None:
                nonlocal cuts
                bus = lock.bus
                assert bus is not None
                if bus.connects == 1 or cuts >= CYCLES:  # the first connect, then the last reconnect
                    await announce()
                    return
                cuts += 1
                if cuts % 3:  # cut after the first publish, or before any
                    await bus.publish(topics.meta("lock"), lock.meta().to_payload(), retain=True)
                link.drop()
                await announce()  # publishes on the cut link: NotConnectedError ends this session

            return through_link(login, client_id=client_id, will=will, on_connect=flapping_announce)

        seen: dict[str, bytes] = {}
        done = asyncio.Event()

        def watch(message: Message) -> None:
            seen[message.topic] = message.payload
            if cuts >= CYCLES and seen.get(topics.availability("lock")) == ONLINE.encode():
                done.set()

        observer = BusClient(endpoint, creds.orchestrator)  # its login's one client id
        async with observer:
            await observer.subscribe(topics.all_of("$availability"), watch)
            await observer.subscribe(topics.all_of("state"), watch)
            async with asyncio.timeout(60):
                await lock.start(connect, creds.device("lock"))
                assert lock.bus is not None
                link.drop()  # and from now on, cut during every announcement
                await done.wait()
            assert lock.bus is not None
            assert lock.bus.connected
            assert lock.bus.connects > CYCLES  # every cut was followed by a reconnect
            state: dict[str, Any] = Message(topics.state("lock"), seen[topics.state("lock")]).json()
            assert state["locked"] is True
            # it still answers commands on the connection it ended with
            replies: list[Message] = []
            got = asyncio.Event()

            def on_reply(message: Message) -> None:
                replies.append(message)
                got.set()

            await observer.subscribe(topics.reply("lock"), on_reply)
            await observer.publish(topics.cmd("lock", "lock"), {"id": "after-flapping"})
            async with asyncio.timeout(10):
                await got.wait()
            assert replies[0].json()["ok"] is True
            await lock.stop()
    assert cuts == CYCLES
    assert link.drops >= CYCLES


# Mosquitto's acl_file does not refuse subscriptions (it delivers nothing instead): amqtt only
@pytest.mark.parametrize("broker_kind", ["embedded"], indirect=True)
async def test_a_refused_subscription_fails_the_first_connect_at_once(
    running_broker: RunningBroker, homes: list[HomeCredentials]
) -> None:
    creds = homes[0]
    assert running_broker.port is not None
    client = BusClient(Endpoint(running_broker.host, running_broker.port), creds.device("cam"), connect_timeout_s=10)
    await client.subscribe(Topics(homes[1].home).everything, lambda m: None)  # another home's: forbidden
    # said at once, not after the full 10 s connect timeout
    async with asyncio.timeout(3):
        with pytest.raises(ForbiddenError, match="refused"):
            await client.__aenter__()

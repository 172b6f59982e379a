"""A fleet's homes on one broker: each login derived from the fleet secret, each home shut out
of every other's topics (docs/protocol.md, "Homes of a fleet"), on both brokers."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from hyperhome.broker.client import BusClient, Endpoint, Message
from hyperhome.broker.credentials import CONTROLLER_SEATS, FLEET_SEATS, HomeCredentials, Login
from hyperhome.broker.launch import BrokerChoice, open_broker
from hyperhome.broker.topics import Topics
from hyperhome.errors import ConnectError, ForbiddenError
from hyperhome.fleet import homes
from hyperhome.home.homefile import load_home

DEMO = load_home("demo")


async def test_each_fleet_home_has_its_own_logins_and_sees_nothing_of_another(broker_kind: str) -> None:
    secret = homes.new_secret()
    a, b = (homes.home_id(DEMO, i) for i in (0, 1))
    assert (a, b) == ("demo-00000", "demo-00001")
    creds = [homes.credentials(DEMO, home, secret) for home in (a, b)]
    assert creds[0].device("phone").password != creds[1].device("phone").password
    assert homes.credentials(DEMO, a, secret) == creds[0]  # a worker derives the same logins
    async with open_broker(BrokerChoice.parse(broker_kind), creds) as ready:
        endpoint = Endpoint.of(ready[0])
        got: list[Message] = []
        echoed = asyncio.Event()

        def seen(message: Message) -> None:
            got.append(message)
            if message.topic == Topics(a).sync("$orchestrator"):
                echoed.set()

        async with BusClient(endpoint, ready[0].orchestrator) as spy:
            # home a's orchestrator may do anything in home a; home b is not there for it: the
            # embedded broker refuses the subscription (SUBACK 0x80), Mosquitto grants it and
            # delivers nothing (its acl_file filters every message)
            with contextlib.suppress(ForbiddenError):
                await spy.subscribe(Topics(b).everything, seen)
            async with BusClient(endpoint, ready[1].device("phone")) as phone_b:
                await phone_b.publish(Topics(b).state("phone"), {"battery_pct": 50}, retain=True)
                await phone_b.publish(Topics(b).state("phone"), {"battery_pct": 49}, retain=True)
            await spy.subscribe(Topics(a).everything, seen)
            await spy.publish(Topics(a).sync("$orchestrator"), {"echo": 1})  # after what b published
            async with asyncio.timeout(5):
                await echoed.wait()
        assert got
        assert not [m for m in got if m.topic.startswith(Topics(b).base + "/")]
        wrong = Login(username=ready[1].device("phone").username, password=homes.password_of("other", "x"))
        with pytest.raises(ConnectError):
            async with BusClient(endpoint, wrong, connect_timeout_s=3):
                pass


def test_a_fleet_home_holds_only_the_logins_its_clients_use() -> None:
    """No integration login (a fleet runs no system under test), and FLEET_SEATS controller seats
    for tools watching a home from outside, not the sixteen of a home of its own."""
    creds = homes.credentials(DEMO, homes.home_id(DEMO, 3), homes.new_secret())
    names = sorted(login.username.split(".", 1)[1] for login, _ in creds.logins())
    seats = [f"$controller-{n}" for n in range(1, FLEET_SEATS + 1)]
    assert names == sorted(["$controller", "$orchestrator", "$clock", *seats, *(d.id for d in DEMO.devices)])
    home = HomeCredentials.generate("solo", [d.id for d in DEMO.devices])  # a home of its own keeps them all
    assert len(home.logins()) == 4 + len(DEMO.devices) + CONTROLLER_SEATS

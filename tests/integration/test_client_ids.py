"""Client ids bound to logins, as the home's own clients and a user's tools live with it.

Several controllers of a home (the CLI, the web API, scenario runs) each take a seat of their
own; a user's tool logs in as the controller with the controller's one client id.
"""

from __future__ import annotations

import aiomqtt
import pytest

from hyperhome.broker.credentials import controller_seats
from hyperhome.home.runtime import Home
from hyperhome.orchestrator.controller import Controller

NOT_AUTHORISED = 135  # 3.1.1 CONNACK 5, as aiomqtt reports it


async def test_several_controllers_of_a_home_are_connected_at_once(home: Home, controller: Controller) -> None:
    async with home.controller() as second, home.controller() as third:
        for ctl in (controller, second, third):
            reply = await ctl.request("living-ac", "no.such.command", {})
            assert reply.error is not None
        ids = {ctl.client_id for ctl in (controller, second, third)}
        assert len(ids) == 3
        assert all(ctl.bus.connects == 1 for ctl in (controller, second, third))  # nobody was kicked


async def test_a_users_tool_logs_in_as_the_controller_with_the_controllers_client_id(home: Home) -> None:
    creds = home.credentials
    assert creds is not None
    login = creds.controller
    async with aiomqtt.Client(
        creds.host, creds.port, identifier=login.username, username=login.username, password=login.password
    ) as tool:
        await tool.subscribe(home.topics.state("living-ac"), qos=1)
    with pytest.raises(aiomqtt.MqttCodeError) as refused:  # any other client id is another login's
        async with aiomqtt.Client(
            creds.host, creds.port, identifier="mosquitto_sub-1", username=login.username, password=login.password
        ):
            pass
    assert refused.value.rc == NOT_AUTHORISED


async def test_a_controller_seat_may_not_use_another_seats_client_id(home: Home) -> None:
    creds = home.credentials
    assert creds is not None
    (first, _), (second, _) = controller_seats(creds.home, creds.controller)[-2:]
    with pytest.raises(aiomqtt.MqttCodeError) as refused:
        async with aiomqtt.Client(
            creds.host, creds.port, identifier=second.username, username=first.username, password=first.password
        ):
            pass
    assert refused.value.rc == NOT_AUTHORISED

"""The device life cycle of the contract, on both brokers (the ``broker_kind`` fixture)."""

from __future__ import annotations

import asyncio

import pytest

from hyperhome.home.runtime import Home
from hyperhome.orchestrator.controller import Controller

from .conftest import Recorder, drop_link


async def test_devices_come_up_with_retained_meta_state_and_availability(home: Home, controller: Controller) -> None:
    registry = controller.registry
    assert set(registry.devices) == {d.id for d in home.plan.devices}
    assert len(registry.devices) == 9
    ac = registry.devices["living-ac"]
    assert ac.online
    assert ac.meta is not None
    assert ac.meta.kind == "air_conditioner"
    assert ac.meta.protocol == 1
    target = ac.meta.commands["set"]["properties"]["target_c"]  # may be left out, never null: no anyOf
    assert (target["minimum"], target["maximum"]) == (16, 30)
    assert ac.state is not None
    assert ac.state["room_temp_c"] == 31.0
    assert ac.state["seq"] >= 1
    assert "ts" in ac.state
    phone = registry.devices["phone"]
    assert phone.meta is not None
    assert phone.meta.owner == "alice"
    assert "intent" in phone.meta.events


@pytest.mark.parametrize("with_faults", [True])
async def test_connection_cut_publishes_offline_then_device_reconnects(home: Home, controller: Controller) -> None:
    recorder = Recorder()
    await controller.bus.subscribe(controller.topics.device("phone") + "/#", recorder)
    await controller.synced()  # the retained messages of the new subscription are in
    recorder.messages.clear()
    phone = home.devices["phone"]
    assert phone.bus is not None
    await drop_link(home, "phone")  # in virtual time it returns once the phone is back, at this instant
    async with asyncio.timeout(10):
        await controller.synced()
        await controller.registry.wait_for(lambda r: r.devices["phone"].online)
    topics = [m.topic.rsplit("/", 1)[-1] for m in recorder.messages]
    # the broker's last will, then the device's own announcement in the contract's order
    assert topics[:4] == ["$availability", "$meta", "state", "$availability"]
    assert recorder.messages[0].payload == b"offline"
    assert phone.bus.connects == 2


async def test_set_cools_the_room_along_the_model_curve_in_virtual_time(home: Home, controller: Controller) -> None:
    from hyperhome.devices.physics import thermal

    recorder = Recorder()
    await controller.bus.subscribe(controller.topics.event("living-ac", "#"), recorder)
    result = await controller.send("living-ac", "set", {"power": True, "target_c": 24})
    assert result["minutes_to_target"] is not None
    ac = controller.registry.devices["living-ac"]
    assert ac.state is not None
    assert ac.state["power"] is True
    assert ac.state["target_c"] == 24
    start = home.clock.now()
    loop = asyncio.get_running_loop()
    wall = loop.time()
    await home.clock.sleep(1800)
    model = thermal.RoomModel()
    expected = thermal.step(31.0, 35.0, thermal.Hvac("cool", model.cooling_capacity_w, 24.0, True), model, 1800)
    await controller.synced()
    assert ac.state["room_temp_c"] == round(expected.room_c, 1)  # the sensor reports 0.1 °C steps
    await home.clock.sleep(3600)
    assert loop.time() - wall < 5.0, "90 simulated minutes should take well under a second or two"
    # the target_reached event came at the moment the model predicts
    events = [m.json() for m in recorder.messages]
    assert len(events) == 1
    eta = thermal.time_to_target_s(31.0, 35.0, thermal.Hvac("cool", model.cooling_capacity_w, 24.0), model)
    assert eta is not None
    from hyperhome.devices.clock import parse_time

    assert parse_time(events[0]["ts"]) - start == round(eta, 3) or abs(parse_time(events[0]["ts"]) - start - eta) < 0.01
    assert events[0]["target_c"] == 24


async def test_bad_input_gets_one_error_reply_each_and_changes_nothing(home: Home, controller: Controller) -> None:
    recorder = Recorder()
    topics = controller.topics
    await controller.bus.subscribe(topics.reply("living-ac"), recorder)
    before = dict(controller.registry.devices["living-ac"].state or {})
    cases = [
        ("set", b"not json", "bad_request"),
        ("set", b"[1, 2, 3]", "bad_request"),
        ("set", b'{"target_c": "cold"}', "invalid_args"),
        ("set", b'{"target_c": 31}', "invalid_args"),
        ("set", b'{"fan": "turbo"}', "invalid_args"),
        ("set", b"{}", "invalid_args"),
        ("set", b'{"id": "c-1", "args": {"target_c": 24, "colour": "red"}}', "invalid_args"),
        ("self_destruct", b"{}", "unknown_command"),
    ]
    for command, payload, code in cases:
        recorder.messages.clear()
        await controller.bus.publish(topics.cmd("living-ac", command), payload)
        await home.clock.sleep(1)  # time only moves once every message in flight was handled
        replies = [m.json() for m in recorder.messages]
        assert len(replies) == 1, (payload, replies)
        assert replies[0]["ok"] is False
        assert replies[0]["error"]["code"] == code, (payload, replies[0])
        assert replies[0]["command"] == command
    assert controller.registry.devices["living-ac"].state["seq"] == before["seq"]  # type: ignore[index]
    reply = await controller.request("living-ac", "set", {"target_c": 24})
    assert reply.ok
    assert controller.registry.devices["living-ac"].state["target_c"] == 24  # type: ignore[index]


async def test_out_of_range_message_names_the_field(controller: Controller) -> None:
    reply = await controller.request("living-ac", "set", {"target_c": 31})
    assert reply.error is not None
    assert reply.error.code == "invalid_args"
    assert reply.error.message == "target_c: Input should be less than or equal to 30"


async def test_repeated_command_id_is_applied_once(home: Home, controller: Controller) -> None:
    recorder = Recorder()
    await controller.bus.subscribe(controller.topics.device("living-ac") + "/#", recorder)
    payload = b'{"id": "dup-1", "args": {"target_c": 25}}'
    for _ in range(2):
        await controller.bus.publish(controller.topics.cmd("living-ac", "set"), payload)
    await home.clock.sleep(1)
    replies = recorder.on("/reply")
    assert len(replies) == 2
    assert replies[0].payload == replies[1].payload
    assert len(recorder.on("/state")) == 1


async def test_tap_on_the_phone_publishes_an_intent(controller: Controller, home: Home) -> None:
    recorder = Recorder()
    await controller.bus.subscribe(controller.topics.event("phone", "intent"), recorder)
    await controller.send("phone", "tap", {"intent": "precool", "args": {"target_c": 24}})
    await home.clock.sleep(1)
    (intent,) = [m.json() for m in recorder.messages]
    assert intent["intent"] == "precool"
    assert intent["args"] == {"target_c": 24}
    assert intent["user"] == "alice"
    assert intent["ts"].endswith("Z")

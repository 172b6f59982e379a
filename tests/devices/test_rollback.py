"""A failed command leaves the device exactly as it was: its state and its shadow state.

Each kind's commands that succeed are run through a test-only command, ``test.then_fail``,
that runs a real handler (which changes state and the kind's private shadow attributes) and
then raises, as a handler failing half-way would. Everything the device holds as data (state
and every private attribute that is plain data) must be as before, and the timers it keeps
must be the ones from before (a trip that never started never arrives).
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest
from pydantic import BaseModel, Field

from hyperhome.devices.air_conditioner import AirConditioner
from hyperhome.devices.base import Args, Device, command, validate_args
from hyperhome.devices.camera import Camera
from hyperhome.devices.car import Car
from hyperhome.devices.lock import Lock
from hyperhome.devices.phone import Phone
from hyperhome.devices.tablet import Tablet
from hyperhome.devices.testing import DeviceHarness
from hyperhome.errors import CommandError, ErrorCode

_INFRA = {"_timers", "_tasks", "_last_published", "_last_advance", "_state_changed"}


class ThenFailArgs(Args):
    command: str = Field(min_length=1)
    args: dict[str, Any] = Field({})


class _ThenFail:
    @command("test.then_fail", ThenFailArgs)
    async def then_fail(self: Any, args: ThenFailArgs) -> None:
        spec = self.commands[args.command]
        await spec.handler(self, validate_args(spec.args, args.args))
        msg = "failed after the handler ran"
        raise CommandError(ErrorCode.REJECTED, msg)


def failing(kind: type[Device]) -> type[Device]:
    return type(f"Failing{kind.__name__}", (_ThenFail, kind), {})


def _is_data(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str, BaseModel)):
        return True
    if isinstance(value, (list, tuple, set, frozenset)):
        return all(_is_data(item) for item in value)
    if isinstance(value, dict):
        return all(_is_data(k) and _is_data(v) for k, v in value.items())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return all(_is_data(getattr(value, f.name)) for f in dataclasses.fields(value))
    return False


def fingerprint(device: Device) -> dict[str, Any]:
    """The device as data: its state and every private attribute that is plain data."""
    shadow = {
        name: value
        for name, value in vars(device).items()
        if name.startswith("_") and name not in _INFRA and _is_data(value)
    }
    return {"state": device.state.model_dump(mode="json"), **copy.deepcopy(shadow)}


# kind, harness options, commands that set the scene, the command that then fails
CASES: list[tuple[type[Device], dict[str, Any], list[tuple[str, dict[str, Any]]], tuple[str, dict[str, Any]]]] = [
    (
        Phone,
        {},
        [("hotspot.start", {}), ("hotspot.admit", {"client": "tab"})],
        ("simulate.traffic", {"client": "tab", "mb": 250}),
    ),
    (Phone, {}, [], ("hotspot.start", {"password": "correct horse"})),
    (Phone, {}, [], ("simulate.approach", {"distance_km": 5, "speed_kmh": 60})),
    (Phone, {}, [], ("charge", {"on": True})),
    (AirConditioner, {"state": {"room_temp_c": 31}}, [], ("set", {"power": True, "target_c": 22})),
    (Car, {"owner": "alice"}, [], ("drive.start", {"destination": "office", "distance_km": 20})),
    (Lock, {}, [], ("unlock", {"method": "app", "user": "alice"})),
    (Camera, {}, [], ("simulate.person", {"name": "alice"})),
    (Tablet, {"owner": "alice"}, [], ("network.leave", {})),
    (Tablet, {"owner": "alice"}, [], ("call.start", {"with": "bob"})),
    (Tablet, {"owner": "alice"}, [("call.start", {})], ("call.set_video_source", {"device": "pho", "stream": "rear"})),
    (Tablet, {"owner": "alice"}, [("call.start", {})], ("call.end", {})),
    (Phone, {}, [("hotspot.start", {}), ("hotspot.admit", {"client": "tab"})], ("hotspot.stop", {})),
    (Phone, {}, [("hotspot.start", {}), ("hotspot.admit", {"client": "tab"})], ("hotspot.release", {"client": "tab"})),
    (Phone, {"state": {"location": "office"}}, [], ("move", {"location": "home"})),
    (Car, {}, [("drive.start", {"destination": "office", "distance_km": 20})], ("simulate.traffic", {"factor": 0.5})),
    (Car, {}, [("drive.start", {"destination": "office", "distance_km": 20})], ("drive.reroute", {"distance_km": 40})),
    (Car, {}, [("drive.start", {"destination": "office", "distance_km": 20})], ("park", {})),
    (Phone, {}, [], ("stream.start", {"stream": "rear", "viewer": "tab", "fps": 15})),
    (Phone, {}, [("stream.start", {"stream": "rear", "viewer": "tab"})], ("stream.stop", {"lease": "l-1"})),
]


@pytest.mark.parametrize(("kind", "options", "scene", "fails"), CASES, ids=[f"{c[0].kind}-{c[3][0]}" for c in CASES])
async def test_a_failed_command_restores_state_and_shadow_state(
    kind: type[Device],
    options: dict[str, Any],
    scene: list[tuple[str, dict[str, Any]]],
    fails: tuple[str, dict[str, Any]],
) -> None:
    async with DeviceHarness(failing(kind), **options) as h:
        for name, args in scene:
            await h.ok(name, args)
        await h.clock.sleep(60)
        if kind is Tablet:  # a joined hotspot to leave: its host is online
            await h.publish(h.topics.availability("pho"), "online")
            await h.ok("network.join_hotspot", {"ssid": "pho-hotspot", "password": "12345678", "host": "pho"})
        await h.device.publish_state()  # physics up to now: what a command would do before it runs
        before = fingerprint(h.device)
        # the handler alone succeeds and changes the device: the case tests something
        name, args = fails
        probe = validate_args(kind.commands[name].args, args)
        snapshot = h.device.snapshot()
        await kind.commands[name].handler(h.device, probe)
        assert fingerprint(h.device) != before, "the command changes nothing: a useless case"
        h.device.restore(snapshot)
        assert fingerprint(h.device) == before

        reply = await h.command("test.then_fail", {"command": name, "args": args})

        assert not reply.ok
        assert fingerprint(h.device) == before


async def test_a_trip_that_failed_to_start_never_arrives() -> None:
    async with DeviceHarness(failing(Phone), state={"location": "office"}, config={"places_km": {"office": 12}}) as h:
        reply = await h.command(
            "test.then_fail", {"command": "simulate.approach", "args": {"distance_km": 5, "speed_kmh": 60}}
        )
        assert not reply.ok
        await h.clock.sleep(3600)
        assert h.events("approaching_home") == []
        assert h.events("arrived_home") == []
        assert h.state.location == "office"


async def test_a_trip_keeps_its_timers_when_a_later_command_fails() -> None:
    async with DeviceHarness(failing(Phone)) as h:
        await h.ok("simulate.approach", {"distance_km": 5, "speed_kmh": 60})
        await h.clock.sleep(60)
        reply = await h.command("test.then_fail", {"command": "move", "args": {"location": "office"}})
        assert not reply.ok
        await h.clock.sleep(3600)
        assert [e["distance_km"] for e in h.events("approaching_home")] == [2.0]
        assert len(h.events("arrived_home")) == 1
        assert h.state.location == "home"


async def test_a_wrong_pin_still_counts_when_refused() -> None:
    """``keep_state``: a refusal that is itself a change (a wrong PIN counted) is not rolled back."""
    async with DeviceHarness(Lock, config={"pins": {"alice": "123456"}}) as h:
        for _ in range(5):
            reply = await h.command("unlock", {"method": "pin", "pin": "000000"})
            assert not reply.ok
        assert h.events("pin_lockout")


async def test_a_call_that_failed_to_start_shows_nothing_and_holds_no_camera() -> None:
    """The failed call's own-camera lease is gone (no frames are sent) and its stream is unsubscribed."""
    async with DeviceHarness(failing(Tablet), owner="alice") as h:
        reply = await h.command("test.then_fail", {"command": "call.start", "args": {}})
        assert not reply.ok
        sent = len(h.published("stream/front"))
        await h.clock.sleep(10)
        assert len(h.published("stream/front")) == sent
        assert h.state.in_call is False
        assert h.state.frames_received == 0
        assert isinstance(h.device, Tablet)
        assert h.device.active_leases() == []
        # a call started afterwards works as any other: it sees its own frames
        await h.ok("call.start", {})
        await h.clock.sleep(1)
        assert h.state.frames_received > 0
        assert h.state.blank is False


async def test_a_failed_switch_keeps_the_call_showing_its_source() -> None:
    """A switch that fails half-way leaves the call subscribed to what it showed: frames keep counting."""
    async with DeviceHarness(failing(Tablet), owner="alice") as h:
        await h.ok("call.start", {})
        await h.clock.sleep(1)
        shown = h.state.frames_received
        reply = await h.command(
            "test.then_fail", {"command": "call.set_video_source", "args": {"device": "pho", "stream": "rear"}}
        )
        assert not reply.ok
        await h.clock.sleep(1)
        await h.device.publish_state()
        assert h.state.source is not None
        assert h.state.source.device == h.device.id
        assert h.state.frames_received > shown
        assert h.state.blank is False

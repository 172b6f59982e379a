"""The automations service end to end, on both brokers, in virtual time.

Rules are added at run time (``automation.add``) to a small home, then the home is stirred the
way a user would be (the phone moves, the camera sees someone) and the test watches what the
orchestrator publishes and what the devices do.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from hyperhome.errors import CommandError
from hyperhome.home.homefile import load_home
from hyperhome.home.runtime import Home
from hyperhome.orchestrator.controller import Controller

from .conftest import Events, add, orch, why

APPROACH = {"trigger": "event", "device": "phone", "event": "approaching_home"}
HOT = {"condition": "numeric_state", "device": "living-ac", "attribute": "room_temp_c", "above": 26}
MOTION = {"trigger": "event", "device": "door-camera", "event": "motion"}


def say(text: str) -> dict[str, Any]:
    return {"say": {"device": "speaker", "text": text}}


async def test_a_false_condition_does_not_fire_and_why_says_so(home: Home, ctl: Controller, events: Events) -> None:
    await add(ctl, {"id": "precool_hint", "trigger": [APPROACH], "condition": [HOT], "action": [say("cooling")]})
    await ctl.send("phone", "simulate.approach", {"distance_km": 1.5})
    await events.until(home.clock, lambda: bool(events.of("approaching_home", "phone")))
    await home.clock.sleep(5)
    assert events.of("automation_fired") == [], "a false condition publishes nothing"
    assert events.spoken() == []
    assert await why(ctl, "precool_hint") == (
        "did not fire at 2026-07-01 17:00:00 UTC: alice's phone is 1.5 km from home, "
        "but the living room is 24.1 °C, not above 26 °C"
    )
    # the same trigger once the room is hot: it fires, and because says what it saw
    await ctl.send("living-ac", "simulate.outdoor", {"outdoor_temp_c": 38})
    await home.clock.sleep(3 * 3600)
    await ctl.send("phone", "move", {"location": "office"})
    await ctl.send("phone", "simulate.approach", {"distance_km": 1})
    await events.until(home.clock, lambda: bool(events.fired("precool_hint")))
    fired = events.fired("precool_hint")[0]
    assert re.fullmatch(r"alice's phone is 1 km from home and the living room is 2\d\.\d °C > 26 °C", fired["because"])
    assert fired["trigger"] == {
        "type": "event",
        "device": "phone",
        "event": "approaching_home",
        "data": fired["trigger"]["data"],
    }
    assert (fired["run"], fired["start"]) == (1, "now")
    await events.until(home.clock, lambda: events.spoken() == ["cooling"])
    assert (await why(ctl, "precool_hint")).startswith("fired at 2026-07-01 20:00:05 UTC because alice's phone is 1 km")


@pytest.mark.parametrize(
    ("mode", "spoken", "starts", "note"),
    [
        ("single", ["start a", "end a"], ["now"], "its previous run was still going (mode single)"),
        ("restart", ["start a", "start b", "end b"], ["now", "restarted"], None),
        ("queued", ["start a", "end a", "start b", "end b"], ["now", "queued"], None),
    ],
)
async def test_modes(
    home: Home, ctl: Controller, events: Events, mode: str, spoken: list[str], starts: list[str], note: str | None
) -> None:
    actions = [say("start ${trigger.zone}"), {"delay": "1m"}, say("end ${trigger.zone}")]
    await add(ctl, {"id": "greeter", "mode": mode, "trigger": [MOTION], "action": actions})
    await ctl.send("door-camera", "simulate.motion", {"zone": "a"})
    await events.until(home.clock, lambda: events.spoken() == ["start a"])
    await home.clock.sleep(10)
    await ctl.send("door-camera", "simulate.motion", {"zone": "b"})
    await home.clock.sleep(3 * 60)
    assert events.spoken() == spoken
    assert [p["start"] for p in events.fired("greeter")] == starts
    answer = await why(ctl, "greeter")
    if note is not None:
        assert answer.endswith(note), answer
    else:
        assert answer.startswith("fired at 2026-07-01 17:00:10 UTC because the front door camera saw motion at the b")


async def test_a_full_queue_drops_the_trigger_and_says_so(home: Home, ctl: Controller, events: Events) -> None:
    actions = [{"delay": "1m"}, say("done ${trigger.zone}")]
    await add(ctl, {"id": "slow", "mode": "queued", "max": 2, "trigger": [MOTION], "action": actions})
    for zone in ("a", "b", "c"):
        await ctl.send("door-camera", "simulate.motion", {"zone": zone})
        await home.clock.sleep(1)
    await home.clock.sleep(5 * 60)
    assert events.spoken() == ["done a", "done b"]
    assert "2 runs were already going or waiting (mode queued, max 2)" in await why(ctl, "slow")


async def test_rules_are_managed_at_run_time(home: Home, ctl: Controller, events: Events) -> None:
    rule = {"id": "hello", "trigger": [MOTION], "action": [say("hello")]}
    summary = await add(ctl, rule)
    assert (summary["id"], summary["enabled"], summary["source"], summary["runs"]) == ("hello", True, "runtime", 0)
    with pytest.raises(CommandError) as twice:
        await add(ctl, rule)
    assert twice.value.code == "rejected"
    replaced = await orch(ctl, "automation.add", {"rule": {**rule, "alias": "Say hello"}, "replace": True})
    assert replaced["alias"] == "Say hello"

    await orch(ctl, "automation.disable", {"id": "hello"})
    await ctl.send("door-camera", "simulate.motion", {})
    await home.clock.sleep(5)
    assert events.spoken() == [], "a disabled rule does not fire"
    assert (await why(ctl, "hello")).startswith("is disabled;")

    assert (await orch(ctl, "automation.enable", {"id": "hello"}))["changed"] is True
    await ctl.send("door-camera", "simulate.motion", {})
    await events.until(home.clock, lambda: events.spoken() == ["hello"])
    await home.clock.sleep(1)  # the run ends when the speaker's reply is in
    listed = (await orch(ctl, "automation.list", {}))["rules"]
    assert [(r["id"], r["runs"], r["last_run"]["state"]) for r in listed] == [("hello", 1, "done")]

    assert (await orch(ctl, "automation.remove", {"id": "hello"}))["removed"] is True
    assert (await orch(ctl, "automation.list", {}))["rules"] == []
    await events.until(home.clock, lambda: len(events.of("automation_changed")) == 5)
    changes = [(p["rule"], p["change"]) for p in events.of("automation_changed")]
    assert changes == [("hello", c) for c in ("added", "replaced", "disabled", "enabled", "removed")]


@pytest.mark.parametrize(
    ("command", "args", "code", "message"),
    [
        ("automation.add", {"rule": {"id": "x", "trigger": [MOTION]}}, "invalid_args", "rule.action: Field required"),
        (
            "automation.add",
            {"rule": {"id": "x", "trigger": [{**MOTION, "device": "garage"}], "action": [say("hi")]}},
            "invalid_args",
            "rule.trigger.0.event trigger.device: Value error, this home has no device 'garage'",
        ),
        (
            "automation.add",
            {"rule": {"id": "x", "trigger": [MOTION], "action": [{"flow": {"kind": "teleport"}}]}},
            "invalid_args",
            "this home has no flow kind 'teleport'",
        ),
        ("automation.add", {"rules": []}, "invalid_args", "rule: Field required"),
        ("automation.why", {"id": "nope"}, "rejected", "no rule 'nope' (rules: none)"),
        ("automation.remove", {}, "invalid_args", "id: Field required"),
        ("automation.enable", {"id": "Bad Id"}, "invalid_args", "id: String should match pattern"),
        ("automation.list", {"all": True}, "invalid_args", "all: Extra inputs are not permitted"),
    ],
)
async def test_bad_commands_get_the_wire_s_error_codes(
    ctl: Controller, command: str, args: dict[str, Any], code: str, message: str
) -> None:
    reply = await ctl.request("$orchestrator", command, args)
    assert reply.error is not None
    assert reply.error.code == code
    assert message in reply.error.message, reply.error.message


async def test_a_failing_action_is_published_and_the_run_stops_unless_told_to_go_on(
    home: Home, ctl: Controller, events: Events
) -> None:
    lock_then_off: list[dict[str, Any]] = [
        {"command": {"device": "door-lock", "name": "lock"}, "continue_on_error": True},
        {"command": {"device": "living-ac", "name": "power", "args": {"on": False}}},
    ]
    await add(ctl, {"id": "secure", "trigger": [MOTION], "action": lock_then_off})
    await add(
        ctl,
        {"id": "strict", "trigger": [MOTION], "action": [lock_then_off[0] | {"continue_on_error": False}, say("x")]},
    )
    await ctl.send("living-ac", "power", {"on": True})
    await ctl.send("door-lock", "unlock", {"method": "app"})
    await ctl.send("door-lock", "simulate.door", {"open": True})
    await ctl.send("door-camera", "simulate.motion", {})
    await events.until(home.clock, lambda: len(events.of("automation_error")) == 2)
    errors = {p["rule"]: p for p in events.of("automation_error")}
    assert errors["secure"]["continued"] is True
    assert errors["strict"]["continued"] is False
    assert (errors["secure"]["action"], errors["secure"]["type"]) == (1, "command")
    assert errors["secure"]["error"].startswith("door-lock refused lock:")
    assert "(rejected)" in errors["secure"]["error"]
    await home.clock.sleep(1)
    await ctl.synced()
    assert ctl.registry.devices["living-ac"].state["power"] is False, "the next action still ran"  # type: ignore[index]
    assert events.spoken() == [], "strict stopped at its first failure"
    assert "; run 1 failed: action 1 (command): door-lock refused lock" in await why(ctl, "strict")


async def test_the_car_display_is_used_only_while_driving(home: Home, ctl: Controller, events: Events) -> None:
    show = {"display": {"text": "Someone is at the door", "level": "warning"}}
    await add(ctl, {"id": "tell_driver", "trigger": [MOTION], "action": [show]})
    await ctl.send("door-camera", "simulate.motion", {})
    await home.clock.sleep(5)
    assert events.of("displayed", "car") == []
    listed = (await orch(ctl, "automation.list", {}))["rules"][0]
    assert listed["last_run"]["actions"] == ["1. display: skipped car (not driving)"]
    await ctl.send("car", "drive.start", {"destination": "office", "distance_km": 10})
    await ctl.send("door-camera", "simulate.motion", {})
    await events.until(home.clock, lambda: bool(events.of("displayed", "car")))
    assert events.of("displayed", "car")[0] | {"ts": None} == {
        "ts": None,
        "text": "Someone is at the door",
        "level": "warning",
    }


async def test_numeric_state_and_time_triggers(home: Home, ctl: Controller, events: Events) -> None:
    warm = {"trigger": "numeric_state", "device": "living-ac", "attribute": "room_temp_c", "above": 25}
    await add(ctl, {"id": "warm", "trigger": [warm], "action": [say("warm at ${trigger.value}")]})
    # a whole-string template keeps its type: the car gets the AC's target as a number
    match_ac = {
        "command": {"device": "car", "name": "climate.set", "args": {"target_c": "${state.living-ac.target_c}"}}
    }
    await add(ctl, {"id": "evening", "trigger": [{"trigger": "time", "at": "18:00"}], "action": [match_ac]})
    await ctl.send("living-ac", "simulate.outdoor", {"outdoor_temp_c": 35})
    await events.until(home.clock, lambda: bool(events.fired("warm")), timeout_s=3 * 3600)
    assert re.fullmatch(r"the living room is 25\.\d °C > 25 °C", events.fired("warm")[0]["because"])
    await events.until(home.clock, lambda: bool(events.fired("evening")), timeout_s=2 * 3600)
    evening = events.fired("evening")
    assert (evening[0]["ts"], evening[0]["because"]) == ("2026-07-01T18:00:00.000Z", "it is 18:00 UTC")
    await home.clock.sleep(2)
    await ctl.synced()
    assert ctl.registry.devices["car"].state["zone_targets_c"]["driver"] == 26  # type: ignore[index]
    await events.until(home.clock, lambda: len(events.fired("evening")) == 2, timeout_s=25 * 3600)
    assert events.fired("evening")[1]["ts"] == "2026-07-02T18:00:00.000Z"
    assert len(events.fired("warm")) == 1, "the room stayed warm: no second crossing"


async def test_shipped_leaving_rule_with_the_door_left_open(broker_kind: str) -> None:
    """The lock refuses (the door is open); the ACs still go off and the refusal is published."""
    async with Home(load_home("demo"), broker=broker_kind) as home, home.controller() as ctl:
        events = Events()
        await ctl.bus.subscribe(ctl.topics.all_of("event"), events)
        await ctl.synced()
        await ctl.send("phone", "move", {"location": "home"})
        await events.until(home.clock, lambda: bool(events.of("unlocked", "door-lock")))
        await ctl.send("living-ac", "power", {"on": True})
        await ctl.send("door-lock", "simulate.door", {"open": True})
        await ctl.send("phone", "move", {"location": "office"})
        await events.until(home.clock, lambda: bool(events.of("notified", "phone")))
        (error,) = events.of("automation_error")
        assert (error["rule"], error["action"], error["continued"]) == ("leaving_home", 1, True)
        assert "door-lock refused lock" in error["error"]
        await home.clock.sleep(1)
        await ctl.synced()
        states = {d: v.state or {} for d, v in ctl.registry.devices.items()}
        assert states["living-ac"]["power"] is False
        assert states["door-camera"]["privacy"] is False
        assert states["door-lock"]["locked"] is False
        answer = (await ctl.send("$orchestrator", "automation.why", {"id": "leaving_home"}))["answer"]
        assert answer.endswith("; run 1 is done"), answer

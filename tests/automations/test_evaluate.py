"""Triggers, conditions and their sentences, on a home described as the registry would see it.

No broker here: the ``DeviceView``s are the registry's own objects, filled with what devices
publish (``$meta``, ``state``, ``$availability``).
"""

from __future__ import annotations

from typing import Any

import pytest

from hyperhome.broker.wire import Meta
from hyperhome.orchestrator.automations import evaluate
from hyperhome.orchestrator.automations.describe import HomeView, join_and, words_of
from hyperhome.orchestrator.automations.model import (
    Condition,
    EventTrigger,
    NumericStateTrigger,
    Rule,
    StateTrigger,
)
from hyperhome.orchestrator.automations.templates import StateLookup, render
from hyperhome.orchestrator.registry import DeviceView


def device(
    id_: str,
    kind: str,
    name: str,
    *,
    room: str | None = None,
    owner: str | None = None,
    online: bool = True,
    **state: Any,
) -> DeviceView:
    meta = Meta(id=id_, home="t", kind=kind, name=name, room=room, owner=owner, sw_version="0")
    return DeviceView(id_, meta=meta, state=dict(state), availability="online" if online else "offline")


def home(*views: DeviceView, residents: tuple[str, ...] = ("alice",)) -> HomeView:
    return HomeView({v.id: v for v in views}, frozenset(residents))


def demo(ac_temp: float = 30.5, phone_at: str = "office", **ac: Any) -> HomeView:
    return home(
        device("phone", "phone", "Alice's phone", owner="alice", location=phone_at),
        device("living-ac", "air_conditioner", "Living room AC", room="living", room_temp_c=ac_temp, power=False, **ac),
        device("door-lock", "lock", "Front door lock", room="entrance", locked=True, door_open=False),
        device("door-camera", "camera", "Front door camera", room="entrance", privacy=False),
    )


def conditions(*items: dict[str, Any]) -> list[Condition]:
    rule = Rule.model_validate(
        {"id": "r", "trigger": {"trigger": "time", "at": "07:00"}, "condition": list(items), "action": {"delay": 1}}
    )
    return rule.condition


HOT = {"condition": "numeric_state", "device": "living-ac", "attribute": "room_temp_c", "above": 26}


def test_the_brief_s_because_is_built_from_the_actual_values() -> None:
    trigger = EventTrigger(trigger="event", device="phone", event="approaching_home")
    hit = evaluate.match_event(trigger, 0, demo(), "phone", "approaching_home", {"ts": "x", "minutes_to_home": 10})
    assert hit is not None
    verdict = evaluate.check(conditions(HOT), demo())
    assert verdict.ok
    assert join_and([hit.sentence, *verdict.reasons]) == (
        "alice's phone is 10 min from home and the living room is 30.5 °C > 26 °C"
    )
    assert hit.payload == {
        "type": "event",
        "device": "phone",
        "event": "approaching_home",
        "data": {"minutes_to_home": 10},
    }


def test_a_false_condition_says_what_it_saw() -> None:
    verdict = evaluate.check(conditions(HOT), demo(ac_temp=24.1))
    assert not verdict.ok
    assert verdict.reasons == ["the living room is 24.1 °C, not above 26 °C"]


def test_the_first_failing_condition_is_the_reason() -> None:
    locked = {"condition": "state", "device": "door-lock", "attribute": "locked", "state": False}
    verdict = evaluate.check(conditions(locked, HOT), demo(ac_temp=20))
    assert verdict.reasons == ["the front door lock is locked, not unlocked"]


@pytest.mark.parametrize(
    ("cond", "ok", "reason"),
    [
        ({"condition": "nobody_home"}, True, "nobody is home (alice's phone is at the office)"),
        ({"condition": "somebody_home"}, False, "nobody is home (alice's phone is at the office)"),
        (
            {"condition": "numeric_state", "device": "living-ac", "attribute": "room_temp_c", "above": 20, "below": 26},
            False,
            "the living room is 30.5 °C, not between 20 °C and 26 °C",
        ),
        (
            {"condition": "numeric_state", "device": "living-ac", "attribute": "room_temp_c", "below": 31},
            True,
            "the living room is 30.5 °C < 31 °C",
        ),
        (
            {"condition": "state", "device": "door-camera", "attribute": "privacy", "state": [True]},
            False,
            "the front door camera is out of privacy mode, not in privacy mode",
        ),
        (
            {"condition": "state", "device": "phone", "attribute": "location", "state": ["office", "road"]},
            True,
            "alice's phone is at the office",
        ),
        (
            {"condition": "or", "conditions": [{"condition": "somebody_home"}, HOT]},
            True,
            "the living room is 30.5 °C > 26 °C",
        ),
        ({"condition": "not", "conditions": [HOT]}, False, "the living room is 30.5 °C > 26 °C"),
        (
            {
                "condition": "and",
                "conditions": [{"condition": "nobody_home"}, {"condition": "not", "conditions": [HOT]}],
            },
            False,
            "the living room is 30.5 °C > 26 °C",
        ),
    ],
)
def test_conditions(cond: dict[str, Any], ok: bool, reason: str) -> None:
    verdict = evaluate.check(conditions(cond), demo())
    assert (verdict.ok, verdict.reasons) == (ok, [reason])


def test_somebody_home_names_who() -> None:
    verdict = evaluate.check(conditions({"condition": "somebody_home"}), demo(phone_at="home"))
    assert verdict.ok
    assert verdict.reasons == ["alice is home (alice's phone is home)"]


def test_presence_counts_only_residents_phones() -> None:
    guest = device("bob-phone", "phone", "Bob's phone", owner="bob", location="home")
    view = home(guest, residents=("alice",))
    verdict = evaluate.check(conditions({"condition": "nobody_home"}), view)
    assert not verdict.ok, "with no resident's phone, who is home is unknown: neither condition holds"
    assert "no resident has a phone" in verdict.reasons[0]


def test_an_offline_device_meets_no_state_condition() -> None:
    ac = device("living-ac", "air_conditioner", "Living room AC", room="living", online=False, room_temp_c=35)
    verdict = evaluate.check(conditions(HOT), home(ac))
    assert (verdict.ok, verdict.reasons) == (False, ["the living room AC is offline"])


def test_a_missing_field_is_said_not_guessed() -> None:
    verdict = evaluate.check(
        conditions({"condition": "numeric_state", "device": "door-lock", "attribute": "room_temp_c", "above": 1}),
        demo(),
    )
    assert verdict.reasons == ["the front door lock has no room_temp_c"]


# -- triggers -------------------------------------------------------------------------------------
def test_event_trigger_matches_device_event_and_where() -> None:
    trigger = EventTrigger(trigger="event", device=["door-camera"], event="person_detected", where={"known": False})
    view = demo()
    stranger = evaluate.match_event(trigger, 2, view, "door-camera", "person_detected", {"known": False, "name": None})
    assert stranger is not None
    assert stranger.index == 2
    assert stranger.sentence == "the front door camera saw a person it does not know"
    assert evaluate.match_event(trigger, 0, view, "door-camera", "person_detected", {"known": True}) is None
    assert evaluate.match_event(trigger, 0, view, "door-camera", "motion", {"known": False}) is None
    assert evaluate.match_event(trigger, 0, view, "phone", "person_detected", {"known": False}) is None


def test_state_trigger_fires_on_a_change_matching_from_and_to() -> None:
    trigger = StateTrigger.model_validate(
        {"trigger": "state", "device": "phone", "attribute": "location", "from": "home"}
    )
    view = demo()
    left = evaluate.match_state(trigger, 0, view, "phone", {"location": "home"}, {"location": "office"})
    assert left is not None
    assert left.sentence == "alice's phone left home"
    assert left.payload == {"type": "state", "device": "phone", "attribute": "location", "from": "home", "to": "office"}
    assert evaluate.match_state(trigger, 0, view, "phone", {"location": "road"}, {"location": "office"}) is None
    assert evaluate.match_state(trigger, 0, view, "phone", {"location": "home"}, {"location": "home"}) is None


def test_state_trigger_compares_json_values() -> None:
    trigger = StateTrigger.model_validate(
        {"trigger": "state", "device": "door-lock", "attribute": "locked", "to": False}
    )
    view = demo()
    hit = evaluate.match_state(trigger, 0, view, "door-lock", {"locked": True}, {"locked": False})
    assert hit is not None
    assert hit.sentence == "the front door lock is now unlocked (was locked)"
    assert evaluate.match_state(trigger, 0, view, "door-lock", {"locked": True}, {"locked": 0}) is None


def test_numeric_trigger_fires_once_when_entering_the_range() -> None:
    trigger = NumericStateTrigger(trigger="numeric_state", device="living-ac", attribute="room_temp_c", above=26)
    view = demo()
    rising = [(25.8, 26.0), (26.0, 26.1), (26.1, 26.4), (26.4, 25.9), (25.9, 26.2)]
    fired = [
        evaluate.match_numeric(trigger, 0, view, "living-ac", {"room_temp_c": a}, {"room_temp_c": b}) is not None
        for a, b in rising
    ]
    assert fired == [False, True, False, False, True]
    hit = evaluate.match_numeric(trigger, 0, view, "living-ac", {}, {"room_temp_c": 27})
    assert hit is not None, "a value that was missing before counts as outside the range"
    assert hit.sentence == "the living room is 27 °C > 26 °C"


@pytest.mark.parametrize(
    ("attribute", "words"),
    [("outdoor_temp_c", "outdoor temperature"), ("battery_pct", "battery"), ("speed_kmh", "speed"), ("gear", "gear")],
)
def test_field_names_read_as_words(attribute: str, words: str) -> None:
    assert words_of(attribute) == words


def test_devices_are_named_as_a_person_would() -> None:
    view = demo()
    assert view.name("phone") == "alice's phone"
    assert view.name("living-ac") == "the living room AC"
    assert view.name("nothing") == "nothing"
    assert view.room("living-ac") == "the living room"
    assert view.room("door-lock") == "the entrance"


def test_templates_keep_types_whole_and_read_unknown_inside_text() -> None:
    view = demo()
    values = {"because": "b", "trigger": {"zone": None, "value": 26.5}, "state": StateLookup(view)}
    assert render({"t": "${state.living-ac.room_temp_c}", "n": ["${trigger.value}"]}, values) == {
        "t": 30.5,
        "n": [26.5],
    }
    assert render("at ${trigger.zone}: ${because} (${state.phone.location}, ${state.phone.nothing})", values) == (
        "at unknown: b (office, unknown)"
    )
    assert render("${trigger.missing}", values) is None

"""Sentences about the home, built from the actual values: what a rule's ``because`` is made of.

``HomeView`` is what the sentences read (the registry's devices and the residents). Devices are
named as a person would: an owned device by its owner and kind ("alice's phone"), another one by
its name ("the front door camera"). Numbers carry the unit their field name ends in (``_c`` is
°C, ``_pct`` is %, ...; the project's naming rule, STYLE.md). Events and attributes that read
badly in the generic form have a phrase in a table below; everything else gets the generic one
("the study laptop reported call_started", "the living room AC's target is 24 °C").
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hyperhome.orchestrator.registry import DeviceView

MISSING: Any = object()

KIND_WORDS = {"air_conditioner": "AC"}
"""How a kind reads in "alice's <kind>" (others: the kind with spaces)."""
ROOM_WORDS = {"living": "living room", "dining": "dining room", "guest": "guest room"}
"""Room ids that are adjectives and need "room" after them."""
UNITS = (
    ("_kmh", " km/h"),
    ("_kwh", " kWh"),
    ("_km", " km"),
    ("_pct", " %"),
    ("_dbm", " dBm"),
    ("_db", " dB"),
    ("_mb", " MB"),
    ("_min", " min"),
    ("_c", " °C"),
    ("_s", " s"),
    ("_w", " W"),
)
"""Field-name suffix -> unit, longest first (the suffixes the device models use)."""
LOCATION = "location"
HOME = "home"
ROAD = "road"


def join_and(parts: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    if len(parts) <= 1:
        return "".join(parts)
    return f"{', '.join(parts[:-1])} and {parts[-1]}"


def number(value: float) -> str:
    return f"{value:g}"


def unit_of(attribute: str) -> str:
    leaf = attribute.rsplit(".", 1)[-1]
    for suffix, unit in UNITS:
        if leaf.endswith(suffix):
            return unit
    return ""


def words_of(attribute: str) -> str:
    """``outdoor_temp_c`` -> ``outdoor temperature``: the field without its unit, in words."""
    leaf = attribute.rsplit(".", 1)[-1]
    for suffix, _ in UNITS:
        if leaf.endswith(suffix) and len(leaf) > len(suffix):
            leaf = leaf[: -len(suffix)]
            break
    words = [("temperature" if w == "temp" else w) for w in leaf.split("_")]
    return " ".join(words)


def when(ts: str) -> str:
    """``2026-07-01T17:20:00.000Z`` -> ``2026-07-01 17:20:00 UTC``."""
    moment = datetime.fromisoformat(ts.replace("Z", "+00:00")).astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def get_path(data: Any, path: str) -> Any:
    """``data["a"]["b"][0]`` for ``a.b.0``; MISSING when any part is absent."""
    current = data
    for part in path.split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return MISSING
    return current


@dataclass(frozen=True)
class HomeView:
    """The home as the rules see it: live devices (the registry's views) and the residents."""

    devices: Mapping[str, DeviceView]
    residents: frozenset[str]

    def view(self, device: str) -> DeviceView | None:
        return self.devices.get(device)

    def kind(self, device: str) -> str | None:
        view = self.devices.get(device)
        return view.kind if view is not None else None

    def name(self, device: str) -> str:
        """ "alice's phone", "the front door camera", or the id when nothing else is known."""
        view = self.devices.get(device)
        meta = view.meta if view is not None else None
        if meta is None:
            return device
        if meta.owner:
            return f"{meta.owner}'s {KIND_WORDS.get(meta.kind, meta.kind.replace('_', ' '))}"
        if meta.name and meta.name != meta.id:
            return f"the {meta.name[:1].lower()}{meta.name[1:]}"
        return device

    def room(self, device: str) -> str:
        """ "the living room", or "the room of <device>" when the device has no room."""
        view = self.devices.get(device)
        room = view.meta.room if view is not None and view.meta is not None else None
        if not room:
            return f"the room of {self.name(device)}"
        return f"the {ROOM_WORDS.get(room, room.replace('_', ' ').replace('-', ' '))}"

    def value(self, device: str, attribute: str) -> Any:
        view = self.devices.get(device)
        if view is None or view.state is None:
            return MISSING
        return get_path(view.state, attribute)

    def residents_of_kind(self, kind: str) -> list[DeviceView]:
        """The residents' devices of one kind (their phones, their cars), by id."""
        owned = (v for v in self.devices.values() if v.meta is not None and v.meta.owner in self.residents)
        return sorted((v for v in owned if v.kind == kind), key=lambda v: v.id)

    def resident_phones(self) -> list[DeviceView]:
        return self.residents_of_kind("phone")

    def resident_cars(self) -> list[DeviceView]:
        return self.residents_of_kind("car")


# -- values --------------------------------------------------------------------------------------
def place(location: Any) -> str:
    """Where a location puts someone: "home", "on the road", "at the office", "at 31.2,121.5"."""
    if location == HOME:
        return "home"
    if location == ROAD:
        return "on the road"
    if isinstance(location, str) and "," in location:
        return f"at {location}"
    return f"at the {location}"


ADJECTIVES: dict[str, tuple[str | None, Callable[[Any], str]]] = {
    "locked": (None, lambda v: "locked" if v else "unlocked"),
    "power": (None, lambda v: "on" if v else "off"),
    "privacy": (None, lambda v: "in privacy mode" if v else "out of privacy mode"),
    "door_open": ("{device}'s door", lambda v: "open" if v else "closed"),
    "charging": (None, lambda v: "charging" if v else "not charging"),
    "climate_on": ("{device}'s cabin climate", lambda v: "on" if v else "off"),
    "detection": ("{device}'s detection", lambda v: "on" if v else "off"),
    "internet": ("{device}'s internet link", lambda v: "up" if v else "down"),
    "in_call": (None, lambda v: "in a call" if v else "not in a call"),
    "gear": (None, lambda v: f"in {v}"),
    LOCATION: (None, place),
}
"""State fields whose values read as adjectives: field -> (subject, value -> words)."""

NUMBER_SUBJECTS = {
    "room_temp_c": "{room}",
    "cabin_temp_c": "{device}'s cabin",
    "battery_pct": "{device}'s battery",
    "distance_home_km": "{device}'s distance from home",
    "minutes_to_arrival": "{device}'s arrival",
}
"""Numeric fields whose subject is not "<device>'s <field in words>"."""


def _plain(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        return number(value)
    return json.dumps(value, ensure_ascii=False)


def number_subject(home: HomeView, device: str, attribute: str) -> str:
    """ "the living room" for room_temp_c, "alice's phone's battery", else "<device>'s <field in words>"."""
    template = NUMBER_SUBJECTS.get(attribute)
    if template is None:
        return f"{home.name(device)}'s {words_of(attribute)}"
    return template.format(device=home.name(device), room=home.room(device))


def state_subject(home: HomeView, device: str, attribute: str) -> str:
    entry = ADJECTIVES.get(attribute)
    if entry is None:
        return f"{home.name(device)}'s {words_of(attribute)}"
    return home.name(device) if entry[0] is None else entry[0].format(device=home.name(device))


def state_words(attribute: str, value: Any) -> str:
    """A value as words: "locked", "at the office", "24 °C", "eco"."""
    entry = ADJECTIVES.get(attribute)
    if entry is not None:
        return entry[1](value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{number(value)}{unit_of(attribute)}"
    return _plain(value)


def quantity(value: float, attribute: str) -> str:
    return f"{number(value)}{unit_of(attribute)}"


def numeric_sentence(
    home: HomeView, device: str, attribute: str, value: float, above: float | None, below: float | None, *, ok: bool
) -> str:
    """ "the living room is 30.5 °C > 26 °C" / "the living room is 24.1 °C, not above 26 °C"."""
    shown = f"{number_subject(home, device, attribute)} is {quantity(value, attribute)}"
    low = None if above is None else quantity(above, attribute)
    high = None if below is None else quantity(below, attribute)
    if low is not None and high is not None:
        return f"{shown}, {'' if ok else 'not '}between {low} and {high}"
    if ok:
        return f"{shown} > {low}" if low is not None else f"{shown} < {high}"
    return f"{shown}, not above {low}" if low is not None else f"{shown}, not below {high}"


def missing_sentence(home: HomeView, device: str, attribute: str) -> str:
    view = home.view(device)
    if view is None or view.state is None:
        return f"nothing is known of {home.name(device)} yet"
    return f"{home.name(device)} has no {attribute}"


# -- events --------------------------------------------------------------------------------------
def _approaching(device: str, p: Mapping[str, Any]) -> str:
    minutes = p.get("minutes_to_home")
    if isinstance(minutes, int | float):
        return f"{device} is {number(minutes)} min from home"
    distance = p.get("distance_km")
    if isinstance(distance, int | float):
        return f"{device} is {number(distance)} km from home"
    return f"{device} is near home"


def _destination(value: Any) -> str:
    return "home" if value == HOME else f"the {value}"


def _person(device: str, p: Mapping[str, Any]) -> str:
    if p.get("known") and p.get("name"):
        return f"{device} saw {p['name']}"
    return f"{device} saw a person it does not know"


EVENT_PHRASES: dict[str, Callable[[str, Mapping[str, Any]], str]] = {
    "approaching_home": _approaching,
    "arrived_home": lambda d, p: f"{d} arrived home",
    "left_home": lambda d, p: f"{d} left home",
    "moved": lambda d, p: f"{d} is now {place(p.get('to'))}",
    "person_detected": _person,
    "motion": lambda d, p: f"{d} saw motion" + (f" at the {p['zone']}" if p.get("zone") else ""),
    "departed": lambda d, p: f"{d} set off for {_destination(p.get('destination'))}",
    "arrived": lambda d, p: f"{d} arrived {place(p.get('destination'))}",
    "trip_cancelled": lambda d, p: f"{d}'s trip was cancelled",
    "unlocked": lambda d, p: f"{d} was unlocked" + (f" by {p['by']}" if p.get("by") else ""),
    "locked": lambda d, p: f"{d} was locked" + (f" by {p['by']}" if p.get("by") else ""),
    "door_opened": lambda d, p: f"{d} reports the door open",
    "door_closed": lambda d, p: f"{d} reports the door closed",
    "tamper": lambda d, p: f"{d} raised a tamper alarm" + (f" ({p['reason']})" if p.get("reason") else ""),
    "jammed": lambda d, p: f"{d} is jammed",
    "low_battery": lambda d, p: (
        f"{d}'s battery is low"
        + (f" ({number(p['battery_pct'])} %)" if isinstance(p.get("battery_pct"), int | float) else "")
    ),
    "target_reached": lambda d, p: (
        f"{d} brought the room to its target"
        + (f" of {number(p['target_c'])} °C" if isinstance(p.get("target_c"), int | float) else "")
    ),
    "utterance": lambda d, p: f'{d} heard "{p.get("text", "")}"',
    "intent": lambda d, p: f"{d} asked for {p.get('intent')}" + (f" for {p['user']}" if p.get("user") else ""),
}
"""Events with a sentence of their own: event -> (device's name, payload) -> sentence."""


def event_sentence(home: HomeView, device: str, event: str, payload: Mapping[str, Any]) -> str:
    name = home.name(device)
    phrase = EVENT_PHRASES.get(event)
    if phrase is not None:
        try:
            return phrase(name, payload)
        except (KeyError, TypeError, ValueError):
            pass
    fields = [f"{k} {_plain(v)}" for k, v in payload.items() if k != "ts" and isinstance(v, str | int | float | bool)]
    detail = f" ({', '.join(fields[:3])})" if fields else ""
    return f"{name} reported {event}{detail}"


def change_sentence(home: HomeView, device: str, attribute: str, before: Any, after: Any) -> str:
    """A state change: "alice's phone arrived home", "the front door lock is now unlocked (was locked)"."""
    if attribute == LOCATION and after == HOME:
        return f"{home.name(device)} arrived home"
    if attribute == LOCATION and before == HOME:
        return f"{home.name(device)} left home"
    who = state_subject(home, device, attribute)
    if before is MISSING or (before is None and attribute not in ADJECTIVES):
        return f"{who} is now {state_words(attribute, after)}"
    return f"{who} is now {state_words(attribute, after)} (was {state_words(attribute, before)})"

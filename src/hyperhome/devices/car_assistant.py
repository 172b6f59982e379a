"""The car's on-board voice assistant: what to do with words heard in a seat zone.

It runs in the car and needs nothing outside it: the grammar is ``hyperhome.voice`` (local, no
network), and its decisions use only what the car knows (its internet link, whether the home's
orchestrator is online). ``decide`` is pure; ``Car.hear`` carries the decision out.

- **Car functions** (cabin climate on/off and set point) are handled here, with or without the
  wake word, as in-car assistants take seat commands wake-free: ``car.climate`` and
  ``car.set_temperature``, and "the AC" said with no room (``device.power`` /
  ``climate.set_temperature`` for an air conditioner): in a car that is the cabin's. The zone is
  the one named ("打开副驾空调"), all five when the request says so ("全车", "all seats"), else
  the zone that spoke ("打开车内空调" from the rear-left seat acts on the rear-left seat only).
- **Everything else needs the wake word** (passengers talking are not requests). With the home
  reachable it goes to the orchestrator (``forward``), which answers through the car's ``say``.
  Without a connection, a home request gets "no connection" and anything else "not understood",
  from the car itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from hyperhome.voice import Grammar, Parse

if TYPE_CHECKING:
    from collections.abc import Sequence

Outcome = Literal["done", "not_understood", "failed", "no_connection"]
CAR_INTENTS = frozenset({"car.climate", "car.set_temperature"})
CABIN_WHEN_NO_ROOM = frozenset({"device.power", "climate.set_temperature"})
"""Home intents that, for an air conditioner named without a room, mean the cabin's in a car."""
ALL_ZONES = "all"
SET_POINT_C = (16.0, 32.0)
"""The cabin set point range, as ``climate.set`` takes it (car.py ``SetPointC``)."""


@dataclass(frozen=True)
class ClimateChange:
    """What to do to the cabin climate: these zones, power on/off and/or a set point."""

    zones: tuple[str, ...]
    power: bool | None = None
    target_c: float | None = None


@dataclass(frozen=True)
class Decision:
    """``local``: the car answers itself with ``reply`` (``outcome``, maybe a ``change``);
    ``forward``: the orchestrator should answer; neither: not a request (nothing to say)."""

    parse: Parse
    local: bool = False
    forward: bool = False
    outcome: Outcome | None = None
    reply: str | None = None
    change: ClimateChange | None = None
    slots: dict[str, Any] = field(default_factory=dict)


def is_car_request(parse: Parse) -> bool:
    """Whether the car handles this itself (see the module docstring)."""
    if parse.intent in CAR_INTENTS:
        return True
    return (
        parse.intent in CABIN_WHEN_NO_ROOM
        and parse.slots.get("device") == "air_conditioner"
        and "room" not in parse.slots
    )


def decide(grammar: Grammar, text: str, zone: str, zones: Sequence[str], *, home_reachable: bool) -> Decision:
    """What the assistant does with ``text`` heard in ``zone`` (see the module docstring)."""
    parse = grammar.parse(text)
    if is_car_request(parse):
        return _car(grammar, parse, zone, tuple(zones))
    if parse.wake_word is None:
        return Decision(parse)
    if home_reachable:
        return Decision(parse, forward=True)
    if parse.intent is None:
        return Decision(parse, local=True, outcome="not_understood", reply=grammar.reply("not_understood", parse.lang))
    return Decision(parse, local=True, outcome="no_connection", reply=grammar.reply("no_connection", parse.lang))


def _car(grammar: Grammar, parse: Parse, zone: str, zones: tuple[str, ...]) -> Decision:
    named = parse.slots.get("zone")
    targets = zones if named == ALL_ZONES else (named or zone,)
    slots = {**parse.slots, "zone": ALL_ZONES if targets == zones and len(zones) > 1 else targets[0]}
    where = grammar.name("zone", slots["zone"], parse.lang)
    if "number" in parse.slots:
        target_c = float(parse.slots["number"])
        low, high = SET_POINT_C
        if not low <= target_c <= high:
            reply = grammar.reply("car_out_of_range", parse.lang, low=low, high=high)
            return Decision(parse, local=True, outcome="failed", reply=reply, slots=slots)
        reply = grammar.reply("car_set_temperature", parse.lang, zone=where, number=parse.slots["number"])
        change = ClimateChange(targets, power=True, target_c=target_c)
        return Decision(parse, local=True, outcome="done", reply=reply, change=change, slots=slots)
    on = parse.slots.get("state", "on") == "on"  # a user's pattern without {state} switches on
    reply = grammar.reply("car_climate_on" if on else "car_climate_off", parse.lang, zone=where)
    change = ClimateChange(targets, power=on)
    return Decision(parse, local=True, outcome="done", reply=reply, change=change, slots=slots)

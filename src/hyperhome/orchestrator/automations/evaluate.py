"""Does a message trigger a rule, do its conditions hold, and why: pure functions of the home.

Nothing here talks to the broker: a trigger is matched against one event or one state change,
conditions are read from a ``HomeView`` (the registry's latest retained states), and every
answer carries the sentence that explains it, so ``because`` and ``automation.why`` say what
the rule saw.

Semantics, as Home Assistant's where it has them:

- ``state`` trigger: the attribute changed (the values differ) and ``from`` / ``to`` match.
- ``numeric_state`` trigger: the value entered the range, having been outside it or not a
  number; a device's first state after the orchestrator starts is a baseline, never a change.
- ``state`` / ``numeric_state`` conditions: a device that is offline, or has no such field,
  does not meet them.
- ``nobody_home`` / ``somebody_home``: by the ``location`` of the residents' phones (``home``
  or not); a home without any resident's phone meets neither.
- ``and`` (and the rule's list): all hold, the first failure is the reason; ``or``: one holds;
  ``not``: none holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hyperhome.orchestrator.automations import describe
from hyperhome.orchestrator.automations.describe import MISSING, HomeView
from hyperhome.orchestrator.automations.model import (
    Condition,
    EventTrigger,
    Group,
    NobodyHome,
    NumericStateCondition,
    NumericStateTrigger,
    SomebodyHome,
    StateCondition,
    StateTrigger,
)


@dataclass(frozen=True)
class Hit:
    """A trigger that matched: what is published as ``trigger``, its sentence, its template values."""

    index: int
    payload: dict[str, Any]
    sentence: str
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    """Whether conditions hold; ``reasons`` are the passing sentences, or the failing one(s)."""

    ok: bool
    reasons: list[str]


# -- triggers ----------------------------------------------------------------------------------------
def match_event(
    trigger: EventTrigger, index: int, home: HomeView, device: str, event: str, payload: Mapping[str, Any]
) -> Hit | None:
    if event != trigger.event or device not in trigger.device:
        return None
    for key, wanted in trigger.where.items():
        if describe.get_path(payload, key) != wanted:
            return None
    data = {k: v for k, v in payload.items() if k != "ts"}
    return Hit(
        index,
        {"type": "event", "device": device, "event": event, "data": data},
        describe.event_sentence(home, device, event, data),
        {"device": device, "event": event, **data},
    )


def match_state(
    trigger: StateTrigger, index: int, home: HomeView, device: str, before: dict[str, Any], after: dict[str, Any]
) -> Hit | None:
    if device not in trigger.device:
        return None
    old, new = describe.get_path(before, trigger.attribute), describe.get_path(after, trigger.attribute)
    if new is MISSING or _same(old, new):
        return None
    if trigger.has_from and (old is MISSING or not _same(old, trigger.from_)):
        return None
    if trigger.has_to and not _same(new, trigger.to):
        return None
    shown_old = None if old is MISSING else old
    return Hit(
        index,
        {"type": "state", "device": device, "attribute": trigger.attribute, "from": shown_old, "to": new},
        describe.change_sentence(home, device, trigger.attribute, old, new),
        {"device": device, "attribute": trigger.attribute, "from": shown_old, "to": new},
    )


def match_numeric(
    trigger: NumericStateTrigger, index: int, home: HomeView, device: str, before: dict[str, Any], after: dict[str, Any]
) -> Hit | None:
    if device not in trigger.device:
        return None
    new = describe.get_path(after, trigger.attribute)
    if not _in_range(new, trigger.above, trigger.below):
        return None
    if _in_range(describe.get_path(before, trigger.attribute), trigger.above, trigger.below):
        return None
    return Hit(
        index,
        {
            "type": "numeric_state",
            "device": device,
            "attribute": trigger.attribute,
            "value": new,
            "above": trigger.above,
            "below": trigger.below,
        },
        describe.numeric_sentence(home, device, trigger.attribute, new, trigger.above, trigger.below, ok=True),
        {"device": device, "attribute": trigger.attribute, "value": new},
    )


def time_hit(index: int, at: str) -> Hit:
    return Hit(index, {"type": "time", "at": at}, f"it is {at[:5]} UTC", {"at": at})


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON values: 24 equals 24.0, but true is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _in_range(value: Any, above: float | None, below: float | None) -> bool:
    number = _number(value)
    if number is None:
        return False
    return (above is None or number > above) and (below is None or number < below)


# -- conditions --------------------------------------------------------------------------------------
def check(conditions: Sequence[Condition], home: HomeView) -> Verdict:
    """All of ``conditions`` (a rule's list): every passing sentence, or the first failure."""
    reasons: list[str] = []
    for condition in conditions:
        verdict = check_one(condition, home)
        if not verdict.ok:
            return verdict
        reasons.extend(verdict.reasons)
    return Verdict(ok=True, reasons=reasons)


def check_one(condition: Condition, home: HomeView) -> Verdict:
    if isinstance(condition, StateCondition):
        return _state(condition, home)
    if isinstance(condition, NumericStateCondition):
        return _numeric(condition, home)
    if isinstance(condition, NobodyHome | SomebodyHome):
        return _presence(home, somebody=isinstance(condition, SomebodyHome))
    return _group(condition, home)


def _offline(home: HomeView, device: str) -> Verdict | None:
    view = home.view(device)
    if view is None:
        return Verdict(ok=False, reasons=[f"{home.name(device)} is not in the home"])
    if not view.online:
        return Verdict(ok=False, reasons=[f"{home.name(device)} is offline"])
    return None


def _state(condition: StateCondition, home: HomeView) -> Verdict:
    device, attribute = condition.device, condition.attribute
    gone = _offline(home, device)
    if gone is not None:
        return gone
    value = home.value(device, attribute)
    if value is MISSING:
        return Verdict(ok=False, reasons=[describe.missing_sentence(home, device, attribute)])
    seen = f"{describe.state_subject(home, device, attribute)} is {describe.state_words(attribute, value)}"
    if any(_same(value, wanted) for wanted in condition.wanted):
        return Verdict(ok=True, reasons=[seen])
    wanted_words = " or ".join(describe.state_words(attribute, w) for w in condition.wanted)
    return Verdict(ok=False, reasons=[f"{seen}, not {wanted_words}"])


def _numeric(condition: NumericStateCondition, home: HomeView) -> Verdict:
    device, attribute = condition.device, condition.attribute
    gone = _offline(home, device)
    if gone is not None:
        return gone
    value = home.value(device, attribute)
    number = _number(value)
    if number is None:
        if value is MISSING:
            return Verdict(ok=False, reasons=[describe.missing_sentence(home, device, attribute)])
        return Verdict(ok=False, reasons=[f"{home.name(device)}'s {attribute} is not a number ({value!r})"])
    ok = _in_range(number, condition.above, condition.below)
    sentence = describe.numeric_sentence(home, device, attribute, number, condition.above, condition.below, ok=ok)
    return Verdict(ok=ok, reasons=[sentence])


def _presence(home: HomeView, *, somebody: bool) -> Verdict:
    phones = home.resident_phones()
    if not phones:
        return Verdict(ok=False, reasons=["no resident has a phone in this home, so who is home is unknown"])
    where = []
    at_home = []
    for phone in phones:
        location = (phone.state or {}).get(describe.LOCATION, MISSING)
        name = home.name(phone.id)
        if location is MISSING:
            where.append(f"{name}'s location is unknown")
        else:
            where.append(f"{name} is {describe.place(location)}")
        if location == describe.HOME:
            assert phone.meta is not None
            at_home.append(phone.meta.owner or phone.id)
    detail = f" ({describe.join_and(where)})"
    if at_home:
        verb = "is" if len(at_home) == 1 else "are"
        return Verdict(ok=somebody, reasons=[f"{describe.join_and(sorted(set(at_home)))} {verb} home{detail}"])
    return Verdict(ok=not somebody, reasons=[f"nobody is home{detail}"])


def _group(group: Group, home: HomeView) -> Verdict:
    if group.condition == "and":
        return check(group.conditions, home)
    verdicts = [check_one(c, home) for c in group.conditions]
    passed = [r for v in verdicts if v.ok for r in v.reasons]
    failed = [r for v in verdicts if not v.ok for r in v.reasons]
    if group.condition == "or":
        return Verdict(ok=True, reasons=passed[:1]) if passed else Verdict(ok=False, reasons=failed)
    return Verdict(ok=False, reasons=passed) if passed else Verdict(ok=True, reasons=failed)

"""Automation rules as data: trigger / condition / action, in the manner of Home Assistant.

```yaml
- id: arrival_precool
  alias: Pre-cool when Alice is on her way home and the living room is hot
  mode: single                    # single | restart | queued (with max)
  trigger:
    - {trigger: event, device: phone, event: approaching_home}
  condition:
    - {condition: numeric_state, device: living-ac, attribute: room_temp_c, above: 26}
  action:
    - flow: {kind: precool, args: {ac: living-ac, target_c: 24, start_now: true, user: alice}}
```

docs/automations.md describes every key. Validation takes an optional context
(``{"devices": {...ids}, "flows": {...kinds}}``): with it, a device id or flow kind the home does
not have is an error at the field that names it, so a home file reports ``file:line: field``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationInfo,
    field_validator,
    model_validator,
)

from hyperhome import durations
from hyperhome.broker.topics import ID_PATTERN, NAME_PATTERN

"""Event, command and flow names (the wire contract's names)."""
PATH_PATTERN = r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$"
"""A field of a device's state, dotted for nested fields (``hotspot.on``, ``zone_targets_c.driver``)."""
TEMPLATE_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_.-]*)\}")
TEMPLATE_ROOTS = ("because", "now", "rule", "alias", "trigger", "state")
QUEUE_MAX_DEFAULT = 10
"""Home Assistant's default ``max`` for queued automations."""


def _context_check(info: ValidationInfo, key: str, value: str, what: str) -> str:
    known = (info.context or {}).get(key)
    if known is not None and value not in known:
        listed = ", ".join(sorted(known)) or "none"
        msg = f"this home has no {what} {value!r} (it has: {listed})"
        raise ValueError(msg)
    return value


def _known_device(value: str, info: ValidationInfo) -> str:
    return _context_check(info, "devices", value, "device")


def _known_flow(value: str, info: ValidationInfo) -> str:
    return _context_check(info, "flows", value, "flow kind")


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _known_devices(value: list[str], info: ValidationInfo) -> list[str]:
    for device in value:
        _known_device(device, info)
    return value


DeviceId = Annotated[str, Field(pattern=ID_PATTERN), AfterValidator(_known_device)]
Devices = Annotated[
    list[Annotated[str, Field(pattern=ID_PATTERN)]],
    BeforeValidator(_one_or_many),
    AfterValidator(_known_devices),
    Field(min_length=1, description="A device id, or a list of them."),
]
Attribute = Annotated[str, Field(pattern=PATH_PATTERN, description="A state field; dotted for nested ones.")]


# -- durations -------------------------------------------------------------------------------------
def parse_duration(value: Any) -> float:
    """Seconds from ``90`` (seconds), ``"90s"``, ``"5m"``, ``"1h30m"`` or Home Assistant's ``"00:05:00"``."""
    return durations.parse_duration(value, clock_form=True)


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    Field(json_schema_extra={"type": ["string", "number"]}),
]


def parse_time_of_day(value: str) -> int:
    """Seconds after midnight from ``"07:00"`` or ``"07:00:30"``."""
    match = durations.CLOCK_RE.fullmatch(value.strip())
    if match is None or "." in (match[3] or ""):
        msg = f"not a time of day: {value!r} (write HH:MM or HH:MM:SS, 24-hour, UTC)"
        raise ValueError(msg)
    hours, minutes, seconds = int(match[1]), int(match[2]), int(match[3] or 0)
    if hours > 23 or minutes > 59 or seconds > 59:
        msg = f"not a time of day: {value!r} (hours 0-23, minutes and seconds 0-59)"
        raise ValueError(msg)
    return hours * 3600 + minutes * 60 + seconds


def _time_of_day(value: str) -> str:
    seconds = parse_time_of_day(value)
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, populate_by_name=True)


def _range_ok(above: float | None, below: float | None) -> None:
    if above is None and below is None:
        msg = "give above, below or both"
        raise ValueError(msg)
    if above is not None and below is not None and above >= below:
        msg = f"above ({above:g}) must be less than below ({below:g})"
        raise ValueError(msg)


# -- triggers --------------------------------------------------------------------------------------
class EventTrigger(_Model):
    """A device published ``event/{event}`` (whose fields meet ``where``)."""

    trigger: Literal["event"]
    device: Devices
    event: str = Field(pattern=NAME_PATTERN)
    where: dict[str, Any] = Field(default_factory=dict)
    """Fields the event must carry with exactly these values, e.g. ``{known: false}``."""


class StateTrigger(_Model):
    """An attribute of a device's state changed (optionally from / to given values)."""

    trigger: Literal["state"]
    device: Devices
    attribute: Attribute
    from_: Any = Field(default=None, alias="from")
    """The value it had before (omit: any)."""
    to: Any = None
    """The value it has now (omit: any)."""

    @property
    def has_from(self) -> bool:
        return "from_" in self.model_fields_set

    @property
    def has_to(self) -> bool:
        return "to" in self.model_fields_set


class NumericStateTrigger(_Model):
    """A number in a device's state entered the range (above and/or below), having been outside it."""

    trigger: Literal["numeric_state"]
    device: Devices
    attribute: Attribute
    above: float | None = None
    below: float | None = None

    @model_validator(mode="after")
    def _range(self) -> NumericStateTrigger:
        _range_ok(self.above, self.below)
        return self


class TimeTrigger(_Model):
    """Every day at a time of day (UTC, simulation clock)."""

    trigger: Literal["time"]
    at: Annotated[str, AfterValidator(_time_of_day)]
    """``HH:MM`` or ``HH:MM:SS``, 24-hour, UTC."""


def _as_list(value: Any) -> Any:
    """Home Assistant accepts one mapping where a list is expected."""
    return [value] if isinstance(value, dict) else value


def _trigger_tag(value: Any) -> str | None:
    """The union member's tag; tags are not keys of the file, so error locations skip them."""
    tag = value.get("trigger") if isinstance(value, dict) else getattr(value, "trigger", None)
    return None if tag is None else f"{tag} trigger"


def _platform_alias(value: Any) -> Any:
    """Home Assistant's older key ``platform:`` means ``trigger:``."""
    if isinstance(value, dict) and "platform" in value and "trigger" not in value:
        return {("trigger" if k == "platform" else k): v for k, v in value.items()}
    return value


def _triggers(value: Any) -> Any:
    return [_platform_alias(item) for item in _as_list(value)] if isinstance(value, dict | list) else value


Trigger = Annotated[
    Annotated[EventTrigger, Tag("event trigger")]
    | Annotated[StateTrigger, Tag("state trigger")]
    | Annotated[NumericStateTrigger, Tag("numeric_state trigger")]
    | Annotated[TimeTrigger, Tag("time trigger")],
    Discriminator(
        _trigger_tag,
        custom_error_type="trigger_kind",
        custom_error_message="trigger must be one of event, state, numeric_state, time",
    ),
]


# -- conditions ------------------------------------------------------------------------------------
class StateCondition(_Model):
    """An attribute of a device's state has this value (or one of these values)."""

    condition: Literal["state"]
    device: DeviceId
    attribute: Attribute
    state: Any
    """The value it must have; a list means any one of them."""

    @property
    def wanted(self) -> list[Any]:
        return self.state if isinstance(self.state, list) else [self.state]


class NumericStateCondition(_Model):
    """A number in a device's state is above and/or below limits."""

    condition: Literal["numeric_state"]
    device: DeviceId
    attribute: Attribute
    above: float | None = None
    below: float | None = None

    @model_validator(mode="after")
    def _range(self) -> NumericStateCondition:
        _range_ok(self.above, self.below)
        return self


class NobodyHome(_Model):
    """No resident's phone is at home."""

    condition: Literal["nobody_home"]


class SomebodyHome(_Model):
    """At least one resident's phone is at home."""

    condition: Literal["somebody_home"]


class Group(_Model):
    """``and``: all of them hold; ``or``: one of them holds; ``not``: none of them holds."""

    condition: Literal["and", "or", "not"]
    conditions: list[Condition] = Field(min_length=1)


def _condition_tag(value: Any) -> str | None:
    tag = value.get("condition") if isinstance(value, dict) else getattr(value, "condition", None)
    if tag is None:
        return None
    return f"{'group' if tag in ('and', 'or', 'not') else tag} condition"


Condition = Annotated[
    Annotated[StateCondition, Tag("state condition")]
    | Annotated[NumericStateCondition, Tag("numeric_state condition")]
    | Annotated[NobodyHome, Tag("nobody_home condition")]
    | Annotated[SomebodyHome, Tag("somebody_home condition")]
    | Annotated[Group, Tag("group condition")],
    Discriminator(
        _condition_tag,
        custom_error_type="condition_kind",
        custom_error_message="condition must be one of state, numeric_state, nobody_home, somebody_home, and, or, not",
    ),
]
Group.model_rebuild()


# -- actions ---------------------------------------------------------------------------------------
class CommandAction(_Model):
    """Send a command to a device (or to each of a list of devices) and wait for its reply."""

    device: Devices
    name: str = Field(pattern=NAME_PATTERN)
    """The command, e.g. ``lock``, ``set``, ``power``."""
    args: dict[str, Any] = Field(default_factory=dict)


class FlowAction(_Model):
    """Start a flow (as ``$orchestrator/cmd/{kind}`` would); the run does not wait for it to end."""

    kind: Annotated[str, Field(pattern=NAME_PATTERN), AfterValidator(_known_flow)]
    args: dict[str, Any] = Field(default_factory=dict)


class NotifyAction(_Model):
    """A notification on phones: ``device``, else the phones ``user`` owns, else every resident's phone."""

    device: DeviceId | None = None
    user: str | None = Field(default=None, pattern=NAME_PATTERN)
    title: str = Field(min_length=1, max_length=120)
    body: str = Field(default="", max_length=1000)
    app: str = Field(default="home", min_length=1, max_length=64)


class DisplayAction(_Model):
    """A message on a car's cabin display: ``device``, else every resident's car."""

    device: DeviceId | None = None
    text: str = Field(min_length=1, max_length=200)
    level: Literal["info", "warning", "alert"] = "info"
    only_when_driving: bool = True
    """Skip a car that is not on a trip (gear park): nobody is there to read it."""


class SayAction(_Model):
    """Speak on a device that has ``say`` (the speaker; the phone and the car where they have it)."""

    device: DeviceId
    text: str = Field(min_length=1, max_length=500)
    zone: str | None = None
    """The car's seat zone to speak in (cars only)."""


ACTIONS = ("command", "flow", "notify", "display", "say", "delay")


class Action(_Model):
    """One action: exactly one of the keys in ``ACTIONS``."""

    model_config = ConfigDict(json_schema_extra={"oneOf": [{"required": [a]} for a in ACTIONS]})

    command: CommandAction | None = None
    flow: FlowAction | None = None
    notify: NotifyAction | None = None
    display: DisplayAction | None = None
    say: SayAction | None = None
    delay: Duration | None = None
    continue_on_error: bool = False
    """Go on with the next action when this one fails (the failure is still published)."""

    @model_validator(mode="after")
    def _exactly_one(self) -> Action:
        given = [a for a in ACTIONS if getattr(self, a) is not None]
        if len(given) != 1:
            msg = f"an action needs exactly one of {', '.join(ACTIONS)} (got {', '.join(given) or 'none'})"
            raise ValueError(msg)
        return self

    @property
    def type(self) -> str:
        return next(a for a in ACTIONS if getattr(self, a) is not None)

    def templates(self) -> Iterator[str]:
        """Every ``${...}`` name used in the action's strings."""
        for value in _strings(self.model_dump(exclude={"continue_on_error", "delay"})):
            yield from TEMPLATE_RE.findall(value)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _check_templates(action: Action, info: ValidationInfo) -> Action:
    for name in action.templates():
        root, _, rest = name.partition(".")
        if root not in TEMPLATE_ROOTS:
            msg = f"${{{name}}}: a template names one of {', '.join(TEMPLATE_ROOTS)}"
            raise ValueError(msg)
        if root == "state":
            device, _, path = rest.partition(".")
            if not device or not path:
                msg = f"${{{name}}}: write ${{state.<device>.<field>}}"
                raise ValueError(msg)
            _known_device(device, info)
    return action


# -- the rule --------------------------------------------------------------------------------------
class Rule(_Model):
    """One automation; see the module docstring and docs/automations.md."""

    model_config = ConfigDict(title="HyperHome automation")

    id: str = Field(pattern=ID_PATTERN)
    """Unique in the home; names the rule on the wire (``rule``) and in the commands."""
    alias: str | None = Field(default=None, max_length=200)
    """A human name for it."""
    description: str | None = Field(default=None, max_length=1000)
    mode: Literal["single", "restart", "queued"] = "single"
    """What a trigger does while a run is going: single ignores it, restart cancels the run and
    starts again, queued runs it after (up to ``max`` runs going or waiting)."""
    max: int | None = Field(default=None, ge=1, le=1000)
    """queued only: runs going or waiting at most (default 10, as Home Assistant)."""
    enabled: bool = True
    """A disabled rule is kept but never fires (``automation.enable`` turns it on)."""
    trigger: Annotated[list[Trigger], BeforeValidator(_triggers), Field(min_length=1)]
    condition: Annotated[list[Condition], BeforeValidator(_as_list)] = Field(default_factory=list)
    action: Annotated[list[Annotated[Action, AfterValidator(_check_templates)]], BeforeValidator(_as_list)] = Field(
        min_length=1
    )

    @field_validator("max")
    @classmethod
    def _max_is_for_queued(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and info.data.get("mode") != "queued":
            msg = "max applies to mode queued only"
            raise ValueError(msg)
        return value

    @property
    def queue_max(self) -> int:
        return self.max if self.max is not None else QUEUE_MAX_DEFAULT

    @property
    def title(self) -> str:
        return self.alias or self.id

    def devices(self) -> set[str]:
        """Every device the rule's triggers watch."""
        found: set[str] = set()
        for trigger in self.trigger:
            if not isinstance(trigger, TimeTrigger):
                found.update(trigger.device)
        return found


def check_unique_ids(rules: list[Rule]) -> list[Rule]:
    seen: set[str] = set()
    for rule in rules:
        if rule.id in seen:
            msg = f"rule id {rule.id!r} appears twice"
            raise ValueError(msg)
        seen.add(rule.id)
    return rules


Rules = Annotated[list[Rule], AfterValidator(check_unique_ids)]
RULES: TypeAdapter[list[Rule]] = TypeAdapter(Rules)
"""Validates a list of rules (a home file's ``automations``, a rules file)."""

"""Scenario files: a story told to a home, step by step, with what must be seen along the way.

```yaml
title: Living room cool-down
article: "The AC cools the living room to 24 °C before you get home."
home: demo                       # a shipped home, a path (relative to this file) or inline
clock: {start: "2026-07-01T17:00:00Z"}   # virtual time unless `speed` is given
steps:
  - send: {device: living-ac, command: set, args: {power: true, target_c: 24}}
  - wait_for: {device: living-ac, event: target_reached, timeout: 40m}
  - expect: {device: living-ac, state: {room_temp_c: {approx: 24, tolerance: 0.5}}}
```

Every step is a mapping with exactly one action key (``send``, ``intent``, ``flow``,
``wait_for``, ``sleep``, ``expect``, ``save``, ``fault``) and an optional ``title``. docs/scenarios.md
describes each one; ``scenario.schema.json`` next to this module is the JSON Schema for editors
(regenerate it with ``python -m hyperhome.scenarios.scenario``).
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    Tag,
    model_validator,
)

from hyperhome.broker.faults import BrokerFault, LinkFault
from hyperhome.broker.topics import ORCHESTRATOR
from hyperhome.broker.wire import FlowState
from hyperhome.devices.clock import parse_time
from hyperhome.durations import DURATION_PATTERN, format_duration, parse_duration
from hyperhome.home import yamlfile
from hyperhome.home.homefile import HomeFile, load_home, shipped_homes, with_files

# -- durations --------------------------------------------------------------------------------
Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    Field(json_schema_extra={"type": ["string", "number"], "pattern": DURATION_PATTERN}),
]
"""Seconds, written as ``"40m"``, ``"1h30m"``, ``"2.5s"`` or a number of seconds."""

# -- constraints --------------------------------------------------------------------------------
_CHECK_KEYS = {"equals", "min", "max", "one_of", "approx", "tolerance"}


def _bare_value_allowed(schema: dict[str, Any]) -> None:
    constraint = dict(schema)
    schema.clear()
    schema["description"] = constraint.pop("description", "")
    schema["anyOf"] = [constraint, {"type": ["string", "number", "boolean", "null", "array"]}]


class Check(BaseModel):
    """Constraints on one value; every one given must hold. A bare value means ``equals``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_bare_value_allowed)

    equals: Any = None
    min: float | None = None
    max: float | None = None
    one_of: list[Any] | None = None
    approx: float | None = None
    tolerance: float = Field(default=0.0, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _bare_value(cls, data: Any) -> Any:
        if isinstance(data, dict) and data and set(data) <= _CHECK_KEYS:
            return data
        return {"equals": data}

    @property
    def has_equals(self) -> bool:
        return "equals" in self.model_fields_set

    def describe(self) -> str:
        parts = []
        if self.has_equals:
            parts.append(f"= {json.dumps(self.equals)}")
        if self.approx is not None:
            parts.append(f"≈ {self.approx:g} ± {self.tolerance:g}")
        if self.min is not None:
            parts.append(f">= {self.min:g}")
        if self.max is not None:
            parts.append(f"<= {self.max:g}")
        if self.one_of is not None:
            parts.append(f"one of {json.dumps(self.one_of)}")
        return ", ".join(parts) or "anything"


Checks = dict[str, Check]
"""Field path (``room_temp_c``, ``result.first_frame_s``, ``source.device``) -> constraint."""

# -- steps --------------------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Send(_Model):
    """Send a command to a device and check its reply."""

    device: str
    command: str
    args: dict[str, Any] = Field(default_factory=dict)
    expect_ok: bool = True
    expect_error: str | None = Field(default=None, description="The error code the reply must carry.")
    timeout: Duration = 10.0

    @model_validator(mode="after")
    def _error_means_not_ok(self) -> Send:
        if self.expect_error is not None:
            self.expect_ok = False
        return self


class Intent(_Model):
    """Ask for something as a user would, by tapping it on a phone (the phone's ``tap`` command).

    A controller may not publish on a device's ``event/intent`` topic (access control), so the
    runner asks the phone to tap; the phone publishes the intent with its owner as the user.
    """

    intent: str
    args: dict[str, Any] = Field(default_factory=dict)
    device: str = "phone"
    timeout: Duration = 10.0


class FlowStart(_Model):
    """Start a flow (``$orchestrator/cmd/{kind}``); its flow_id is saved as ``save_as``."""

    kind: str
    args: dict[str, Any] = Field(default_factory=dict)
    save_as: str | None = Field(default=None, description="Name to save the flow_id under (default: the kind).")
    expect_ok: bool = True
    expect_error: str | None = None
    timeout: Duration = 10.0

    @model_validator(mode="after")
    def _defaults(self) -> FlowStart:
        if self.expect_error is not None:
            self.expect_ok = False
        return self

    @property
    def name(self) -> str:
        return self.save_as or self.kind


class _Condition(_Model):
    device: str | None = Field(default=None, description="A device id, or $orchestrator for its events.")
    flow: str | None = Field(default=None, description="A saved flow name (or ${name}, or a flow id).")
    event: str | None = None
    state: Any = Field(
        default=None,
        description="For a device: field -> constraint on its state. For a flow: the state(s) it must reach.",
    )
    where: Checks = Field(default_factory=dict, description="Constraints on the event's or flow status's fields.")

    @model_validator(mode="after")
    def _one_target(self) -> _Condition:
        if (self.device is None) == (self.flow is None):
            msg = "give exactly one of device and flow"
            raise ValueError(msg)
        if self.device is not None:
            if (self.event is None) == (self.state is None):
                msg = "with device, give exactly one of event and state"
                raise ValueError(msg)
            if self.state is not None:
                if not isinstance(self.state, dict) or not self.state:
                    msg = "state must map field names to constraints, e.g. {room_temp_c: {max: 25}}"
                    raise ValueError(msg)
                self.state = {k: Check.model_validate(v) for k, v in self.state.items()}
        else:
            if self.event is not None:
                msg = "a flow has no events; wait for the orchestrator's (device: $orchestrator)"
                raise ValueError(msg)
            if self.state is not None and not isinstance(self.state, str | list):
                msg = f"a flow's state is one of {', '.join(FLOW_STATES)} (or a list)"
                raise ValueError(msg)
        return self

    @property
    def device_checks(self) -> Checks:
        return self.state if isinstance(self.state, dict) else {}

    @property
    def flow_states(self) -> list[str]:
        if self.state is None:
            return []
        return [self.state] if isinstance(self.state, str) else [str(s) for s in self.state]


class WaitFor(_Condition):
    """Let simulated time pass until an event comes, a state holds, or a flow reaches a state."""

    timeout: Duration


class Expect(_Condition):
    """Check now: a device's state, an event seen since the last action, or a flow's status."""


FLOW_STATES = tuple(state.value for state in FlowState)
ACTIONS = ("send", "intent", "flow", "wait_for", "sleep", "expect", "save", "fault")


def _keys(value: Any) -> set[str]:
    return set(value) if isinstance(value, dict) else set(getattr(type(value), "model_fields", ()))


class Step(_Model):
    """One step: exactly one action key, and an optional title."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"oneOf": [{"required": [a]} for a in ACTIONS]})

    title: str | None = None
    send: Send | None = None
    intent: Intent | None = None
    flow: FlowStart | None = None
    wait_for: WaitFor | None = None
    sleep: Duration | None = None
    expect: Expect | None = None
    save: dict[str, str] | None = Field(
        default=None,
        description="name -> source: reply.<path>, event.<path>, flow.<path>, state.<device>.<path>, time, now.",
    )
    fault: (
        Annotated[
            Annotated[LinkFault, Tag("link")] | Annotated[BrokerFault, Tag("broker_fault")],
            Discriminator(lambda v: "broker_fault" if "broker" in _keys(v) else "link"),
        ]
        | None
    ) = Field(
        default=None,
        description=(
            "Set a device's link: latency, stall, drop, partition or clear (the home then runs with faults); "
            "or restart the home's broker: {broker: restart, after: 5s}."
        ),
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> Step:
        given = [a for a in ACTIONS if getattr(self, a) is not None]
        if len(given) != 1:
            msg = f"a step needs exactly one of {', '.join(ACTIONS)} (got {', '.join(given) or 'none'})"
            raise ValueError(msg)
        return self

    @property
    def action(self) -> str:
        return next(a for a in ACTIONS if getattr(self, a) is not None)

    def label(self, index: int) -> str:
        return f"step {index + 1} ({self.title or self.action})"


class ClockSpec(_Model):
    start: str = Field(default="2026-07-01T17:00:00Z", description="ISO 8601 start of simulated time.")
    speed: float | None = Field(default=None, gt=0, description="Scaled real time; virtual when omitted.")
    mode: Literal["virtual", "manual"] = Field(
        default="virtual",
        description="`manual`: the runner advances time itself, step by step, and after each step waits "
        "until the home is quiet counting outside clients too (a system under test; docs/test-your-code.md).",
    )
    settle: Duration = Field(
        default=0.05, description="With `mode: manual`: real time with no message that makes a step quiet."
    )

    @model_validator(mode="after")
    def _start_is_a_time(self) -> ClockSpec:
        try:
            parse_time(self.start)
        except ValueError:
            msg = f"start {self.start!r} is not an ISO 8601 time"
            raise ValueError(msg) from None
        if self.mode == "manual" and self.speed is not None:
            msg = "mode manual and speed exclude each other: a manual clock moves only when advanced"
            raise ValueError(msg)
        return self

    @property
    def start_s(self) -> float:
        return parse_time(self.start)


_REF_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
SAVE_SOURCES = ("reply", "event", "flow", "state", "time", "now")


class Scenario(_Model):
    """A scenario file; see the module docstring."""

    model_config = ConfigDict(extra="forbid", title="HyperHome scenario")

    title: str
    article: str = Field(description="What the article describes, quoted or paraphrased.")
    home: Annotated[
        Annotated[str, Tag("name")] | Annotated[HomeFile, Tag("inline")],
        Discriminator(lambda v: "inline" if isinstance(v, dict | HomeFile) else "name"),
    ] = Field(default="demo", description="A shipped home, a path (relative to the scenario), or an inline home.")
    clock: ClockSpec = Field(default_factory=ClockSpec)
    requires_flows: list[str] = Field(
        default_factory=list, description="Flow kinds the orchestrator must know; else the scenario is skipped."
    )
    steps: list[Step] = Field(min_length=1)

    @property
    def uses_faults(self) -> bool:
        """Whether a step sets a link: then the home runs with a fault proxy per device."""
        return any(isinstance(step.fault, LinkFault) for step in self.steps)

    @property
    def restarts_broker(self) -> bool:
        """Whether a step restarts the broker: then it must be one HyperHome runs."""
        return any(isinstance(step.fault, BrokerFault) for step in self.steps)


def reference_problems(scenario: Scenario) -> list[tuple[yamlfile.Loc, str]]:
    """Names used as ``${name}`` before a step saves them, and save sources that do not exist."""
    problems: list[tuple[yamlfile.Loc, str]] = []
    saved: set[str] = set()
    for index, step in enumerate(scenario.steps):
        dumped = json.dumps(step.model_dump(mode="json", exclude_none=True))
        for name in dict.fromkeys(_REF_RE.findall(dumped)):
            if name not in saved:
                problems.append((("steps", index), f"uses ${{{name}}} before any step saves it"))
        if step.flow is not None:
            saved.add(step.flow.name)
        for name, source in (step.save or {}).items():
            if source.split(".", 1)[0] not in SAVE_SOURCES:
                where = ("steps", index, "save", name)
                problems.append((where, f"the source must start with one of {', '.join(SAVE_SOURCES)}"))
            saved.add(name)
    return problems


# -- loading ------------------------------------------------------------------------------------
def library() -> Path:
    return Path(str(resources.files("hyperhome.scenarios") / "library"))


def shipped_scenarios() -> dict[str, Path]:
    return {p.stem: p for p in sorted(library().glob("*.yaml"))}


def resolve(name_or_path: str | Path) -> Path:
    """A path to a scenario file, or the name of a shipped one (``living_room_cooldown``)."""
    return yamlfile.resolve(name_or_path, shipped_scenarios(), "scenario")


def load_scenario(name_or_path: str | Path) -> tuple[Scenario, Path]:
    """Validate a scenario file and the home it runs in; ConfigError naming file, line and field
    if it does not fit (a step naming a device the home does not have, too)."""
    path = resolve(name_or_path)
    data, source = yamlfile.load_document(path, "title, article and steps")
    scenario = yamlfile.validate_data(Scenario, data, source.lines, source.name)
    problems = reference_problems(scenario)
    if problems:
        raise source.problems(problems)
    problems = device_problems(scenario, home_plan(scenario, path, source))
    if problems:
        raise source.problems(problems)
    return scenario, path


def device_problems(scenario: Scenario, plan: HomeFile) -> list[tuple[yamlfile.Loc, str]]:
    """Steps that name a device the home does not have."""
    known = {d.id for d in plan.devices}
    problems: list[tuple[yamlfile.Loc, str]] = []
    for index, step in enumerate(scenario.steps):
        target = step.send or step.intent or step.wait_for or step.expect or step.fault
        device = getattr(target, "device", None)
        if device is None or device in known or _REF_RE.search(device):
            continue
        if device == ORCHESTRATOR and not isinstance(target, Intent | LinkFault | BrokerFault):
            continue
        devices = ", ".join(sorted(known))
        where = ("steps", index, step.action, "device")
        problems.append((where, f"home {plan.home!r} has no device {device!r} (its devices: {devices})"))
    return problems


def home_plan(scenario: Scenario, path: Path, source: yamlfile.Source | None = None) -> HomeFile:
    """The home a scenario runs in: inline, a path relative to the scenario file, or shipped.

    An inline home's files (rules, grammar) are read relative to the scenario file, as a home
    file's are relative to the home file. ``source``: the scenario file, loaded (else it is).
    """
    if source is None:
        _, lines = yamlfile.load(path)
        source = yamlfile.Source(str(path), lines)
    if isinstance(scenario.home, HomeFile):
        return with_files(scenario.home, path.parent, dataclasses.replace(source, at=("home",)))
    relative = path.parent / scenario.home
    if not relative.is_file() and scenario.home not in shipped_homes():
        shipped = ", ".join(sorted(shipped_homes()))
        raise source.error(("home",), f"no home file {relative} and no shipped home {scenario.home!r} ({shipped})")
    return load_home(relative if relative.is_file() else scenario.home)


def schema_path() -> Path:
    return Path(__file__).with_name("scenario.schema.json")


def json_schema() -> str:
    """The JSON Schema of scenario files, as written to ``scenario.schema.json``."""
    schema = Scenario.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://hyperhome.dev/scenario.schema.json"
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_json_schema(path: Path | None = None) -> Path:
    target = path or schema_path()
    target.write_text(json_schema(), encoding="utf-8")
    return target


if __name__ == "__main__":
    sys.stdout.write(f"wrote {write_json_schema()}\n")

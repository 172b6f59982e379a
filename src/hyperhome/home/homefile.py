"""Home files: a home, its residents and its devices, in YAML.

```yaml
home: demo                 # id: lower-case letters, digits, '-' and '_'
name: Demo home
residents: [alice]
devices:
  - id: living-ac
    kind: air_conditioner
    name: Living room AC
    room: living
    state: {room_temp_c: 31, outdoor_temp_c: 35}
  - {id: phone, kind: phone, owner: alice}
automations: rules.yaml    # or a list of rules inline (docs/automations.md)
zigbee2mqtt: true          # also speak Zigbee2MQTT's topics (docs/conventions.md)
voice: {grammar: [my-words.yaml]}   # extra voice grammar files (docs/voice.md)
home_assistant: true       # Home Assistant MQTT discovery (docs/home-assistant.md)
```

Every path in a home (its rules file, its grammar files) is relative to the file that holds the
home: the home file, or the scenario file of a home written inline. A mistake is reported with
the file, the line and the field (``my-home.yaml:9: devices.0.state: device 'living-ac'
(air_conditioner): target_c: ...``); a rules or grammar file's own mistakes with its own name
and line.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    RootModel,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from hyperhome.broker.topics import DEFAULT_ROOT, check_id
from hyperhome.broker.wire import format_validation_error
from hyperhome.devices import catalog
from hyperhome.devices.base import DeviceSpec
from hyperhome.errors import ConfigError
from hyperhome.home import yamlfile
from hyperhome.home.grammarfile import VoiceSettings, checked
from hyperhome.orchestrator.automations import RULES, Rule
from hyperhome.orchestrator.automations.model import Rules
from hyperhome.orchestrator.flows import KINDS


class HomeFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    home: str
    name: str | None = None
    root: str = DEFAULT_ROOT
    residents: list[str] = Field(default_factory=list)
    devices: list[DeviceSpec] = Field(min_length=1)
    zigbee2mqtt: bool = Field(
        False, description="Speak Zigbee2MQTT's topics too (docs/conventions.md); `hyperhome up --zigbee2mqtt`."
    )
    voice: VoiceSettings = Field(default_factory=VoiceSettings, description="The voice assistant (docs/voice.md).")
    home_assistant: bool = Field(
        False, description="Every device publishes Home Assistant discovery configs (docs/home-assistant.md)."
    )
    automations: Annotated[
        Annotated[list[Rule], Tag("inline")] | Annotated[str, Tag("file")],
        Discriminator(lambda v: "file" if isinstance(v, str) else "inline"),
    ] = Field(default_factory=list, description="Automation rules, or the path of a rules file (docs/automations.md).")

    @field_validator("automations", mode="before")
    @classmethod
    def _rules(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str):
            return value
        return RULES.validate_python(value, context=rules_context(info.data.get("devices")))

    @field_validator("home")
    @classmethod
    def _home_id(cls, value: str) -> str:
        try:
            return check_id(value, "home")
        except ConfigError as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _devices(self) -> HomeFile:
        """Every device's id, kind, config and initial state; a mistake is located at its field."""
        seen: set[str] = set()
        problems = [
            InitErrorDetails(
                type=PydanticCustomError("device_spec", "{problem}", {"problem": problem}),
                loc=("devices", index, field),
                input=getattr(spec, field),
            )
            for index, spec in enumerate(self.devices)
            for field, problem in _spec_problems(spec, seen)
        ]
        if problems:
            raise ValidationError.from_exception_data(type(self).__name__, problems)
        return self

    def device(self, device_id: str) -> DeviceSpec:
        for spec in self.devices:
            if spec.id == device_id:
                return spec
        msg = f"home {self.home!r} has no device {device_id!r}"
        raise ConfigError(msg)


def _spec_problems(spec: DeviceSpec, seen: set[str]) -> Iterator[tuple[str, str]]:
    """(field, problem) for each mistake in one device of a home; ``seen``: the ids before it."""
    try:
        check_id(spec.id, "device id")
    except ConfigError as exc:
        yield "id", str(exc)
    if spec.id in seen:
        yield "id", f"device id {spec.id!r} appears twice"
    seen.add(spec.id)
    try:
        kind = catalog.kind(spec.kind)
    except ConfigError as exc:
        yield "kind", str(exc)
        return
    for field, model in (("config", kind.Config), ("state", kind.State)):
        try:
            model.model_validate(getattr(spec, field))
        except ValidationError as exc:
            yield field, f"device {spec.id!r} ({spec.kind}): {format_validation_error(exc)}"


def shipped_homes() -> dict[str, Path]:
    folder = resources.files("hyperhome.home") / "homes"
    return {Path(str(p)).stem: Path(str(p)) for p in folder.iterdir() if str(p).endswith(".yaml")}


def resolve(name_or_path: str | Path) -> Path:
    """A path to a home file, or the name of a shipped one (``demo``)."""
    return yamlfile.resolve(name_or_path, shipped_homes(), "home")


def load_home(name_or_path: str | Path) -> HomeFile:
    """A home file, validated, with the files it names read; ConfigError naming file, line and field."""
    path = resolve(name_or_path)
    data, source = yamlfile.load_document(path, "home and devices")
    plan = yamlfile.validate_data(HomeFile, data, source.lines, source.name)
    return with_files(plan, path.parent, source)


def with_files(plan: HomeFile, base: Path, source: yamlfile.Source) -> HomeFile:
    """``plan`` with the files it names (rules, voice grammar) read relative to ``base``, the
    folder of ``source``, the file that holds the home; a file that is not there is reported at
    the line that names it."""
    plan = with_rules_file(plan, base, source)
    return plan.model_copy(update={"voice": checked(plan.voice, base, source)})


def rules_context(devices: list[DeviceSpec] | None) -> dict[str, Any]:
    """What rules are checked against: the home's device ids (when known) and the flow kinds."""
    return {"devices": None if devices is None else {d.id for d in devices}, "flows": set(KINDS)}


def with_rules_file(plan: HomeFile, base: Path, source: yamlfile.Source | None = None) -> HomeFile:
    """``plan`` with its ``automations`` read from the rules file it names (relative to ``base``)."""
    if not isinstance(plan.automations, str):
        return plan
    path = base / plan.automations
    if not path.is_file():
        where = source or yamlfile.Source(f"home {plan.home}", {})
        raise where.error(("automations",), f"no rules file {path}")
    data, lines = yamlfile.load(path)
    rules = yamlfile.validate_data(RulesFile, data, lines, str(path), context=rules_context(plan.devices))
    return plan.model_copy(update={"automations": rules.root})


def rules_of(plan: HomeFile) -> list[Rule]:
    """The home's rules; a rules file not read yet is read relative to the working directory."""
    rules = with_rules_file(plan, Path.cwd()).automations
    assert isinstance(rules, list)
    return rules


class RulesFile(RootModel[Rules]):
    """A rules file: a YAML list of rules, as Home Assistant's automations.yaml."""

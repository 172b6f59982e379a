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
voice: {grammar: [my-words.yaml]}   # extra voice grammar files (docs/voice.md)
```

A rules file is read relative to the home file, and its mistakes are reported with its own
file name and line, like the home file's.
"""

from __future__ import annotations

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
    ValidationInfo,
    field_validator,
    model_validator,
)

from hyperhome.broker.topics import DEFAULT_ROOT, check_id
from hyperhome.devices import catalog
from hyperhome.devices.base import DeviceSpec
from hyperhome.errors import ConfigError
from hyperhome.orchestrator.automations import RULES, Rule
from hyperhome.orchestrator.automations.model import Rules
from hyperhome.orchestrator.flows import KINDS
from hyperhome.scenarios import yamlfile
from hyperhome.scenarios.grammarfile import VoiceSettings, checked


class HomeFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    home: str
    name: str | None = None
    root: str = DEFAULT_ROOT
    residents: list[str] = Field(default_factory=list)
    devices: list[DeviceSpec] = Field(min_length=1)
    voice: VoiceSettings = Field(default_factory=VoiceSettings, description="The voice assistant (docs/voice.md).")
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
        seen: set[str] = set()
        for spec in self.devices:
            try:
                check_id(spec.id, "device id")
                catalog.kind(spec.kind).check_spec(spec)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
            if spec.id in seen:
                msg = f"device id {spec.id!r} appears twice"
                raise ValueError(msg)
            seen.add(spec.id)
        return self

    def device(self, device_id: str) -> DeviceSpec:
        for spec in self.devices:
            if spec.id == device_id:
                return spec
        msg = f"home {self.home!r} has no device {device_id!r}"
        raise ConfigError(msg)


def shipped_homes() -> dict[str, Path]:
    folder = resources.files("hyperhome.scenarios") / "homes"
    return {Path(str(p)).stem: Path(str(p)) for p in folder.iterdir() if str(p).endswith(".yaml")}


def resolve(name_or_path: str | Path) -> Path:
    """A path to a home file, or the name of a shipped one (``demo``)."""
    return yamlfile.resolve(name_or_path, shipped_homes(), "home")


def load_home(name_or_path: str | Path) -> HomeFile:
    path = resolve(name_or_path)
    plan = with_rules_file(yamlfile.validate(HomeFile, path), path.parent)
    return plan.model_copy(update={"voice": checked(plan.voice, path.parent)})


def rules_context(devices: list[DeviceSpec] | None) -> dict[str, Any]:
    """What rules are checked against: the home's device ids (when known) and the flow kinds."""
    return {"devices": None if devices is None else {d.id for d in devices}, "flows": set(KINDS)}


def with_rules_file(plan: HomeFile, base: Path) -> HomeFile:
    """``plan`` with its ``automations`` read from the rules file it names (relative to ``base``)."""
    if not isinstance(plan.automations, str):
        return plan
    path = base / plan.automations
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

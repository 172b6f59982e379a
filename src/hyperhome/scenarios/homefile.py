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
```
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hyperhome.broker.topics import DEFAULT_ROOT, check_id
from hyperhome.devices import catalog
from hyperhome.devices.base import DeviceSpec
from hyperhome.errors import ConfigError
from hyperhome.scenarios import yamlfile


class HomeFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    home: str
    name: str | None = None
    root: str = DEFAULT_ROOT
    residents: list[str] = Field(default_factory=list)
    devices: list[DeviceSpec] = Field(min_length=1)

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
    return yamlfile.validate(HomeFile, resolve(name_or_path))

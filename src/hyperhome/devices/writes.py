"""Which state fields a kind lets a client write, and the one command each write becomes.

Derived from the model, by three rules (first that applies):

1. the kind's ``set`` command has an arg of the field's name: ``set {field: value}`` (the AC's
   ``power``, ``mode``, ``target_c``, ``fan``; the speaker's ``volume_pct``, ``muted``; the lock's
   ``locked``, through the ``set`` Home Assistant's lock entity drives, ...);
2. a command named after a bool field takes exactly one bool arg: ``{command} {arg: value}``
   (the camera's ``privacy {on}`` and ``detection {on}``);
3. the kind names a bool field in ``switches``: the first command when true, the second when
   false, without args (a kind with ``lock`` / ``unlock`` and no ``set`` for it).

Conventions that write state (MIoT ``set_properties``, Zigbee2MQTT ``/set``) write through
these, so a write is always one of the device's own commands: there is no second command path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hyperhome.devices.base import Device


@dataclass(frozen=True, slots=True)
class Write:
    """A state field's write: the command, and the args it takes for a value."""

    field: str
    command: str
    arg: str | None
    """The arg that carries the value; None for a switch (rule 3)."""
    when_false: str | None = None
    """A switch's command for false."""

    def as_command(self, value: Any) -> tuple[str, dict[str, Any]]:
        if self.arg is not None:
            return self.command, {self.arg: value}
        assert self.when_false is not None
        if not isinstance(value, bool):
            msg = f"{self.field} is true or false"
            raise ValueError(msg)
        return (self.command if value else self.when_false), {}


def _field_type(kind: type[Device], name: str) -> Any:
    return kind.State.model_fields[name].annotation


def writes(kind: type[Device]) -> dict[str, Write]:
    """Every writable state field of ``kind`` with its write, in the State model's field order."""
    state_fields = kind.State.model_fields
    out: dict[str, Write] = {}
    setter = kind.commands.get("set")
    for name in state_fields:
        if setter is not None and name in setter.args.model_fields:
            out[name] = Write(name, "set", name)
            continue
        spec = kind.commands.get(name)
        if spec is not None and _field_type(kind, name) is bool:
            args = spec.args.model_fields
            if len(args) == 1:
                (arg, info), *_ = args.items()
                if info.annotation is bool:
                    out[name] = Write(name, name, arg)
                    continue
        pair = kind.switches.get(name)
        if pair is not None:
            out[name] = Write(name, pair[0], None, pair[1])
    return out

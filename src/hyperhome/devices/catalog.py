"""Every device kind by name: the one table the home loader and docs read."""

from __future__ import annotations

from hyperhome.devices.air_conditioner import AirConditioner
from hyperhome.devices.base import Device
from hyperhome.devices.camera import Camera
from hyperhome.devices.car import Car
from hyperhome.devices.laptop import Laptop
from hyperhome.devices.lock import Lock
from hyperhome.devices.phone import Phone
from hyperhome.devices.speaker import Speaker
from hyperhome.devices.tablet import Tablet
from hyperhome.errors import ConfigError

KINDS: dict[str, type[Device]] = {
    cls.kind: cls for cls in (AirConditioner, Camera, Car, Laptop, Lock, Phone, Speaker, Tablet)
}


def kind(name: str) -> type[Device]:
    try:
        return KINDS[name]
    except KeyError:
        msg = f"unknown device kind {name!r} (known: {', '.join(sorted(KINDS))})"
        raise ConfigError(msg) from None

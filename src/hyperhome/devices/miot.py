"""Mi Home (MIoT) spec ids of every device, derived from its model, and the MIoT commands.

Xiaomi describes a device as services (``siid``) holding properties (``piid``), actions
(``aiid``) and events (``eiid``), and drives it with ``get_properties``, ``set_properties`` and
``action``. A kind may declare, as data, which MIoT device type it is and which of its state
fields, commands and events make up which standard service, under which MIoT name
(``MiotDevice`` in the kind's ``miot``); every id is then derived, never written by hand:

- ``siid 1`` is always ``device-information``: ``piid`` 1 manufacturer, 2 model, 3 serial number
  (the device id), 4 firmware revision, as in every MIoT spec;
- the declared services follow from ``siid 2``, in declaration order; then one more service,
  ``hyperhome``, holds every state field, command and event no service names (a kind that
  declares nothing has one service named after its type); so adding a field to a model gives it
  an id at once;
- within a service, ``piid``, ``aiid`` and ``eiid`` count from 1 in the order of the service's
  declaration, then the order of the model (State fields, commands by name, events as listed).

Formats follow MIoT's: ``bool``; ``uint8`` / ``int32`` for integers; ``float``; an enum is a
``uint8`` whose ``value-list`` numbers the options from 0 in the model's order; ``string``;
and a field holding an object or a list is a ``string`` of its compact JSON. ``access`` is
``read`` and ``notify`` for every state field, plus ``write`` when the kind has a write for it
(``devices/writes.py``). Results carry MIoT's codes (``CODES``).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hyperhome.devices.units import unit_of
from hyperhome.devices.writes import writes
from hyperhome.errors import CommandError, ErrorCode

if TYPE_CHECKING:
    from hyperhome.devices.base import Device

MANUFACTURER = "HyperHome"
MIOT_COMMANDS = ("get_properties", "set_properties", "action")
"""The MIoT commands every kind has; they are not themselves MIoT actions."""

OK = 0
NOT_READABLE = -4001
NOT_WRITABLE = -4002
NOT_FOUND = -4003
INTERNAL = -4004
BAD_VALUE = -4005
BAD_IN = -4006
CODES = {
    OK: "success",
    NOT_READABLE: "the property cannot be read",
    NOT_WRITABLE: "the property cannot be written",
    NOT_FOUND: "no such service, property or action",
    INTERNAL: "the device refused or failed (the message says why)",
    BAD_VALUE: "the value is not valid for the property",
    BAD_IN: "the action's in parameters are not valid",
}
"""MIoT result codes, as Xiaomi's spec defines them."""

_UNITS = {"°C": "celsius", "%": "percentage", "s": "seconds", "W": "watt", "kWh": "kWh", "km": "km", "km/h": "km/h"}
_INFO = ("manufacturer", "model", "serial-number", "firmware-revision")
FLOAT_STEP = 0.1
"""A float property's ``value-range`` step (the models publish tenths)."""


@dataclass(frozen=True, slots=True)
class MiotService:
    """A standard MIoT service a kind is made of: its members, each with its MIoT name."""

    type: str
    properties: Mapping[str, str] = field(default_factory=dict)
    """State field -> MIoT property name (``{"target_c": "target-temperature"}``)."""
    actions: Mapping[str, str] = field(default_factory=dict)
    """Command -> MIoT action name."""
    events: Mapping[str, str] = field(default_factory=dict)
    """Event -> MIoT event name."""


@dataclass(frozen=True, slots=True)
class MiotDevice:
    """A kind's MIoT device type (``air-conditioner``, with its spec code) and services."""

    type: str
    code: str = "00000000"
    """The type's code in Xiaomi's spec registry (``0000A004``); zeros for a type it has not."""
    services: tuple[MiotService, ...] = ()


def _dashed(name: str) -> str:
    return name.replace("_", "-").replace(".", "-")


def device_type(kind: type[Device]) -> MiotDevice:
    return kind.miot or MiotDevice(type=_dashed(kind.kind))


def _prop_schema(kind: type[Device], name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    schema = kind.State.model_json_schema()
    defs: dict[str, Any] = schema.get("$defs", {})
    return schema["properties"][name], defs


def field_schema(kind: type[Device], name: str) -> dict[str, Any]:
    """The JSON Schema of one state field, a ``$ref`` or a nullable's one type resolved."""
    prop, defs = _prop_schema(kind, name)
    return _resolve(prop, defs)


def _resolve(prop: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in prop:
        target: dict[str, Any] = defs.get(prop["$ref"].rsplit("/", 1)[-1], {})
        return target
    branches = [p for p in prop.get("anyOf", []) if p.get("type") != "null"]
    if len(branches) == 1:
        return _resolve(branches[0], defs)
    return prop


def _format(prop: dict[str, Any]) -> dict[str, Any]:
    """MIoT format, value-range or value-list, for a resolved JSON Schema property."""
    if "enum" in prop:
        return {"format": "uint8", "value-list": [{"value": i, "description": v} for i, v in enumerate(prop["enum"])]}
    kind = prop.get("type")
    low, high = prop.get("minimum"), prop.get("maximum")
    out: dict[str, Any]
    if kind == "boolean":
        return {"format": "bool"}
    if kind == "integer":
        small = low is not None and high is not None and low >= 0 and high <= 255
        out = {"format": "uint8" if small else "int32"}
        if low is not None and high is not None:
            out["value-range"] = [low, high, 1]
        return out
    if kind == "number":
        out = {"format": "float"}
        if low is not None and high is not None:
            out["value-range"] = [low, high, FLOAT_STEP]
        return out
    if kind == "string":
        return {"format": "string"}
    return {"format": "string", "json": True}


@dataclass(frozen=True, slots=True)
class Spec:
    """A kind's derived MIoT description: ``meta`` for ``$meta``, and the lookups for requests."""

    meta: dict[str, Any]
    properties: dict[tuple[int, int], str]
    actions: dict[tuple[int, int], str]


_SPECS: dict[type, Spec] = {}


def spec_of(kind: type[Device]) -> Spec:
    """The MIoT description of ``kind`` (see the module docstring), derived once per kind."""
    spec = _SPECS.get(kind)
    if spec is None:
        spec = _SPECS[kind] = _derive(kind)
    return spec


def _derive(kind: type[Device]) -> Spec:
    dev = device_type(kind)
    fields = list(kind.State.model_fields)
    commands = [c for c in sorted(kind.commands) if c not in MIOT_COMMANDS]
    events = list(kind.events)
    declared = list(dev.services)
    named = (
        {n for s in declared for n in s.properties},
        {n for s in declared for n in s.actions},
        {n for s in declared for n in s.events},
    )
    rest = MiotService(
        type="hyperhome" if declared else dev.type,
        properties={f: _dashed(f) for f in fields if f not in named[0]},
        actions={c: _dashed(c) for c in commands if c not in named[1]},
        events={e: _dashed(e) for e in events if e not in named[2]},
    )
    if rest.properties or rest.actions or rest.events:
        declared.append(rest)
    write = writes(kind)
    services = [{"siid": 1, "type": "device-information"}]
    props: dict[str, Any] = {}
    acts: dict[str, Any] = {}
    evs: dict[str, Any] = {}
    by_piid: dict[tuple[int, int], str] = {(1, n): f"${name}" for n, name in enumerate(_INFO, 1)}
    by_aiid: dict[tuple[int, int], str] = {}
    for siid, service in enumerate(declared, 2):
        services.append({"siid": siid, "type": service.type})
        for piid, (name, miot_name) in enumerate(service.properties.items(), 1):
            prop, defs = _prop_schema(kind, name)
            entry: dict[str, Any] = {"siid": siid, "piid": piid, "type": miot_name}
            entry.update(_format(_resolve(prop, defs)))
            entry["access"] = ["read", "write", "notify"] if name in write else ["read", "notify"]
            unit = unit_of(name)
            if unit:
                entry["unit"] = _UNITS.get(unit, unit)
            props[name] = entry
            by_piid[(siid, piid)] = name
        for aiid, (name, miot_name) in enumerate(service.actions.items(), 1):
            args = list(kind.commands[name].args.model_fields)
            acts[name] = {"siid": siid, "aiid": aiid, "type": miot_name, "in": args}
            by_aiid[(siid, aiid)] = name
        for eiid, (name, miot_name) in enumerate(service.events.items(), 1):
            evs[name] = {"siid": siid, "eiid": eiid, "type": miot_name}
    urn = f"urn:miot-spec-v2:device:{dev.type}:{dev.code}:hyperhome-{_dashed(kind.kind)}:1"
    meta = {"type": urn, "services": services, "properties": props, "actions": acts, "events": evs}
    return Spec(meta, by_piid, by_aiid)


# -- requests ----------------------------------------------------------------------------------
Dispatch = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any] | None]]
Params = Sequence[Mapping[str, Any]]


def _value(device: Device, name: str, sw_version: str) -> Any:
    if name.startswith("$"):
        info = {
            "$manufacturer": MANUFACTURER,
            "$model": f"hyperhome.{device.kind}",
            "$serial-number": device.id,
            "$firmware-revision": sw_version,
        }
        return info[name]
    value = getattr(device.state, name)
    entry = spec_of(type(device)).meta["properties"][name]
    dumped = device.state.model_dump(mode="json", include={name})[name]
    if "value-list" in entry and value is not None:
        return next(v["value"] for v in entry["value-list"] if v["description"] == dumped)
    if entry.get("json"):
        return json.dumps(dumped, separators=(",", ":"), ensure_ascii=False)
    return dumped


def _ids(item: Mapping[str, Any], key: str) -> dict[str, Any]:
    out = {"siid": item["siid"], key: item[key]}
    if item.get("did") is not None:
        out = {"did": item["did"], **out}
    return out


def get_properties(device: Device, params: Params, sw_version: str) -> list[dict[str, Any]]:
    """One result per requested property, in order: ``{siid, piid, code, value}``."""
    table = spec_of(type(device)).properties
    out = []
    for item in params:
        name = table.get((item["siid"], item["piid"]))
        if name is None:
            out.append({**_ids(item, "piid"), "code": NOT_FOUND})
        else:
            out.append({**_ids(item, "piid"), "code": OK, "value": _value(device, name, sw_version)})
    return out


def _code_of(exc: CommandError, bad: int) -> int:
    return bad if exc.code in (ErrorCode.INVALID_ARGS, ErrorCode.BAD_REQUEST) else INTERNAL


async def set_properties(device: Device, params: Params, dispatch: Dispatch) -> list[dict[str, Any]]:
    """Write each property through the kind's own command for it; ``{siid, piid, code}`` each."""
    kind = type(device)
    spec, write = spec_of(kind), writes(kind)
    out = []
    for item in params:
        ids = _ids(item, "piid")
        name = spec.properties.get((item["siid"], item["piid"]))
        if name is None:
            out.append({**ids, "code": NOT_FOUND})
            continue
        if name not in write:
            out.append({**ids, "code": NOT_WRITABLE})
            continue
        value = item["value"]
        entry = spec.meta["properties"][name]
        if "value-list" in entry:
            options = {v["value"]: v["description"] for v in entry["value-list"]}
            if type(value) is not int or value not in options:
                out.append({**ids, "code": BAD_VALUE, "message": f"one of {sorted(options)}"})
                continue
            value = options[value]
        try:
            command, args = write[name].as_command(value)
            await dispatch(command, args)
        except ValueError as exc:
            out.append({**ids, "code": BAD_VALUE, "message": str(exc)})
        except CommandError as exc:
            out.append({**ids, "code": _code_of(exc, BAD_VALUE), "message": exc.message})
        else:
            out.append({**ids, "code": OK})
    return out


async def action(device: Device, item: Mapping[str, Any], values: list[Any], dispatch: Dispatch) -> dict[str, Any]:
    """Run the command behind ``(siid, aiid)`` with the ``in`` values in its args' order."""
    kind = type(device)
    ids = _ids(item, "aiid")
    name = spec_of(kind).actions.get((item["siid"], item["aiid"]))
    if name is None:
        return {**ids, "code": NOT_FOUND}
    names = list(kind.commands[name].args.model_fields)
    if len(values) > len(names):
        return {**ids, "code": BAD_IN, "message": f"{name} takes at most {len(names)} in values ({', '.join(names)})"}
    try:
        result = await dispatch(name, dict(zip(names, values, strict=False)))
    except CommandError as exc:
        return {**ids, "code": _code_of(exc, BAD_IN), "message": exc.message}
    return {**ids, "code": OK, "out": [], "result": result or {}}

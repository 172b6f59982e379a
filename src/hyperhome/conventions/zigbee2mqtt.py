"""Zigbee2MQTT's topics for a home: apps written for Zigbee2MQTT see and drive its devices.

Everything here is derived from the device models (``exposes``: the State fields' JSON
Schemas, ``devices/writes.py`` for what may be set, the MIoT declarations for what a field
means), never written per device. The bridge (``Zigbee2MqttBridge``) is one more MQTT client
with its own login (``{home}.$zigbee2mqtt``, in the one ACL table); it mirrors each device
under ``zigbee2mqtt/`` and turns ``/set`` into the device's own ``cmd/`` commands, so there is
no second command path:

| topic (under ``zigbee2mqtt/``) | what |
|---|---|
| ``{friendly_name}`` | the device's state: its State fields (and the specific exposes' own keys) |
| ``{friendly_name}/availability`` | ``{"state": "online"}`` / ``{"state": "offline"}``, retained |
| ``{friendly_name}/set``, ``/set/{attribute}`` | JSON object / one plain value: becomes device commands |
| ``{friendly_name}/get`` | publishes the state again |
| ``bridge/state`` | ``{"state": "online"}``, retained (``offline`` as the bridge's last will) |
| ``bridge/info``, ``bridge/devices`` | retained; ``definition.exposes`` per device |
| ``bridge/request/{name}`` -> ``bridge/response/{name}`` | ``{"data", "status", "error"?, "transaction"?}`` |
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import itertools
import json
import logging
import re
import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hyperhome import __version__
from hyperhome.broker.client import Bus, Connector, Message, Will
from hyperhome.broker.credentials import Login, client_id_of
from hyperhome.broker.topics import ZIGBEE2MQTT, ZIGBEE2MQTT_BASE, Topics
from hyperhome.broker.wire import ONLINE, Meta, PayloadError, dumps, loads
from hyperhome.devices import catalog
from hyperhome.devices.base import Device
from hyperhome.devices.miot import field_schema, spec_of
from hyperhome.devices.units import unit_of
from hyperhome.devices.writes import writes
from hyperhome.errors import ConfigError, NotConnectedError

if TYPE_CHECKING:
    from types import TracebackType

log = logging.getLogger(__name__)

BASE = ZIGBEE2MQTT_BASE
STATE, SET, GET = 1, 2, 4
"""Zigbee2MQTT's ``access`` bits: in the published state, settable with ``/set``, readable with ``/get``."""
VENDOR = "HyperHome"
_TOPIC_UNSAFE = re.compile(r"[/+#]")

SYSTEM_MODES = {"cool": "cool", "heat": "heat", "dry": "dry", "fan": "fan_only", "auto": "auto"}
"""Zigbee2MQTT's ``system_mode`` for each AC mode (Zigbee2MQTT's values: off, heat, cool, auto,
dry, fan_only); ``off`` is the unit switched off."""


def label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _describe(kind: type[Device], name: str) -> str:
    return (kind.State.model_fields[name].description or "").replace("\n", " ")


def generic_expose(kind: type[Device], name: str, *, expose_name: str | None = None) -> dict[str, Any] | None:
    """The generic expose (binary, numeric, enum, text) of one State field; None for an object or a list."""
    schema = field_schema(kind, name)
    access = STATE | GET | (SET if name in writes(kind) else 0)
    out: dict[str, Any] = {"name": expose_name or name, "label": label(expose_name or name), "property": name}
    if "enum" in schema:
        out = {"type": "enum", **out, "values": list(schema["enum"])}
    elif schema.get("type") == "boolean":
        out = {"type": "binary", **out, "value_on": True, "value_off": False}
    elif schema.get("type") in ("integer", "number"):
        out = {"type": "numeric", **out}
        for key, z2m in (("minimum", "value_min"), ("maximum", "value_max")):
            if key in schema:
                out[z2m] = schema[key]
        if schema.get("type") == "integer":
            out["value_step"] = 1
        if unit_of(name):
            out["unit"] = unit_of(name)
    elif schema.get("type") == "string":
        out = {"type": "text", **out}
    else:
        return None
    out["access"] = access
    description = _describe(kind, name)
    if description:
        out["description"] = description
    return out


# -- specific exposes: derived from what the MIoT declaration says a field is ----------------------
@dataclass(frozen=True, slots=True)
class Derived:
    """A key of the Zigbee2MQTT state that no single field holds: read from the state, written as fields."""

    name: str
    read: Callable[[dict[str, Any]], Any]
    write: Callable[[Any], dict[str, Any]]
    """The state fields a value sets (ValueError for a value it does not take)."""


def _fields_by_miot_type(kind: type[Device]) -> dict[str, str]:
    return {entry["type"]: name for name, entry in spec_of(kind).meta["properties"].items()}


def _system_mode(kind: type[Device]) -> tuple[dict[str, Any], Derived] | None:
    by_type = _fields_by_miot_type(kind)
    power, mode = by_type.get("on"), by_type.get("mode")
    if power is None or mode is None or power not in writes(kind) or mode not in writes(kind):
        return None
    modes = list(field_schema(kind, mode).get("enum", []))
    values = ["off", *(SYSTEM_MODES.get(m, m) for m in modes)]
    back = {SYSTEM_MODES.get(m, m): m for m in modes}

    def read(state: dict[str, Any]) -> Any:
        return SYSTEM_MODES.get(state[mode], state[mode]) if state[power] else "off"

    def write(value: Any) -> dict[str, Any]:
        if value == "off":
            return {power: False}
        if value not in back:
            msg = f"system_mode is one of {', '.join(values)}"
            raise ValueError(msg)
        return {power: True, mode: back[value]}

    feature = {
        "type": "enum",
        "name": "system_mode",
        "label": "System mode",
        "property": "system_mode",
        "values": values,
        "access": STATE | SET | GET,
    }
    return feature, Derived("system_mode", read, write)


def _climate(kind: type[Device]) -> tuple[dict[str, Any], list[Derived]] | None:
    if "climate" not in kind.capabilities:
        return None
    by_type = _fields_by_miot_type(kind)
    features: list[dict[str, Any]] = []
    derived: list[Derived] = []
    for miot_type, z2m_name in (
        ("target-temperature", "current_heating_setpoint"),
        ("temperature", "local_temperature"),
    ):
        name = by_type.get(miot_type)
        expose = None if name is None else generic_expose(kind, name, expose_name=z2m_name)
        if expose is not None:
            features.append(expose)
    mode = _system_mode(kind)
    if mode is not None:
        features.append(mode[0])
        derived.append(mode[1])
    fan = by_type.get("fan-level")
    fan_expose = None if fan is None else generic_expose(kind, fan, expose_name="fan_mode")
    if fan_expose is not None:
        features.append(fan_expose)
    if not features:
        return None  # a climate the MIoT declaration says nothing about (the car's cabin)
    return {"type": "climate", "features": features}, derived


def _lock(kind: type[Device]) -> tuple[dict[str, Any], list[Derived]] | None:
    if "lock" not in kind.capabilities:
        return None
    by_type = _fields_by_miot_type(kind)
    locked, jammed = by_type.get("lock-state"), by_type.get("jammed")
    if locked is None:
        return None
    settable = locked in writes(kind)

    def read_state(state: dict[str, Any]) -> Any:
        return "LOCK" if state[locked] else "UNLOCK"

    def write_state(value: Any) -> dict[str, Any]:
        if value not in ("LOCK", "UNLOCK"):
            msg = "state is LOCK or UNLOCK"
            raise ValueError(msg)
        return {locked: value == "LOCK"}

    def read_lock_state(state: dict[str, Any]) -> Any:
        if jammed is not None and state[jammed]:
            return "not_fully_locked"
        return "locked" if state[locked] else "unlocked"

    def no_write(value: Any) -> dict[str, Any]:
        msg = "lock_state is read-only; set state to LOCK or UNLOCK"
        raise ValueError(msg)

    features = [
        {
            "type": "binary",
            "name": "state",
            "label": "State",
            "property": "state",
            "value_on": "LOCK",
            "value_off": "UNLOCK",
            "access": STATE | GET | (SET if settable else 0),
        },
        {
            "type": "enum",
            "name": "lock_state",
            "label": "Lock state",
            "property": "lock_state",
            "values": ["not_fully_locked", "locked", "unlocked"],
            "access": STATE | GET,
        },
    ]
    derived = [Derived("state", read_state, write_state), Derived("lock_state", read_lock_state, no_write)]
    return {"type": "lock", "features": features}, derived


@dataclass(frozen=True, slots=True)
class KindView:
    """How one kind looks in Zigbee2MQTT."""

    exposes: list[dict[str, Any]]
    derived: dict[str, Derived]


_VIEWS: dict[type, KindView] = {}


def view_of(kind: type[Device]) -> KindView:
    """``exposes`` (specific ones first, then one generic expose per State field) and derived keys."""
    view = _VIEWS.get(kind)
    if view is None:
        exposes: list[dict[str, Any]] = []
        derived: dict[str, Derived] = {}
        for specific in (_climate(kind), _lock(kind)):
            if specific is not None:
                exposes.append(specific[0])
                derived.update((d.name, d) for d in specific[1])
        for name in kind.State.model_fields:
            expose = generic_expose(kind, name)
            if expose is not None:
                exposes.append(expose)
        view = _VIEWS[kind] = KindView(exposes, derived)
    return view


def definition(kind: type[Device]) -> dict[str, Any]:
    module = sys.modules[kind.__module__]
    description = inspect.cleandoc(module.__doc__ or kind.kind).split("\n\n")[0].replace("\n", " ")
    return {
        "model": f"hyperhome.{kind.kind}",
        "vendor": VENDOR,
        "description": description,
        "exposes": view_of(kind).exposes,
        "options": [],
        "supports_ota": False,
    }


def ieee_address(home: str, device: str) -> str:
    """A stable 64-bit address for a device (Zigbee2MQTT names every device by one)."""
    return "0x" + hashlib.sha256(f"{home}/{device}".encode()).hexdigest()[:16]


def friendly_names(metas: dict[str, Meta]) -> dict[str, str]:
    """device id -> friendly name: its name when that is one unique topic level, else its id."""
    names: dict[str, str] = {}
    taken = {meta.name for meta in metas.values()}
    counts = {name: sum(1 for m in metas.values() if m.name == name) for name in taken}
    for device, meta in sorted(metas.items()):
        name = meta.name
        usable = name and not _TOPIC_UNSAFE.search(name) and name != "bridge" and counts[name] == 1
        names[device] = name if usable else device
    return names


def device_entry(home: str, meta: Meta, friendly_name: str) -> dict[str, Any]:
    """One device of ``bridge/devices``."""
    kind = catalog.kind(meta.kind)
    return {
        "ieee_address": ieee_address(home, meta.id),
        "type": "EndDevice",
        "network_address": int(ieee_address(home, meta.id)[-4:], 16),
        "supported": True,
        "disabled": False,
        "friendly_name": friendly_name,
        "description": f"{meta.kind} {meta.id}" + (f" in {meta.room}" if meta.room else ""),
        "definition": definition(kind),
        "power_source": "Battery" if "battery" in kind.capabilities else "Mains (single phase)",
        "model_id": f"hyperhome.{meta.kind}",
        "manufacturer": VENDOR,
        "software_build_id": meta.sw_version,
        "endpoints": {},
        "interviewing": False,
        "interview_completed": True,
    }


def z2m_state(kind: type[Device], state: dict[str, Any]) -> dict[str, Any]:
    """The device's state as Zigbee2MQTT publishes it: its fields, the derived keys, ``last_seen``."""
    body = {k: v for k, v in state.items() if k not in ("ts", "seq")}
    for key, derived in view_of(kind).derived.items():
        with contextlib.suppress(KeyError):
            body[key] = derived.read(body)
    if "ts" in state:
        body["last_seen"] = state["ts"]
    return body


def plan_set(kind: type[Device], request: dict[str, Any]) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """The device commands a ``/set`` payload becomes, and a message per key it cannot set.

    Keys that go to one command (the AC's ``set``) are merged into one command, in the order
    first given."""
    view, write = view_of(kind), writes(kind)
    fields: dict[str, Any] = {}
    problems: list[str] = []
    for key, value in request.items():
        if key in view.derived:
            try:
                fields.update(view.derived[key].write(value))
            except ValueError as exc:
                problems.append(str(exc))
        elif key in write:
            fields[key] = value
        else:
            problems.append(f"no converter for {key!r}: {kind.kind} cannot set it")
    commands: dict[str, dict[str, Any]] = {}
    order: list[tuple[str, dict[str, Any]]] = []
    for key, value in fields.items():
        try:
            command, args = write[key].as_command(value)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        if command in commands and args:
            commands[command].update(args)
            continue
        commands[command] = args
        order.append((command, args))
    return order, problems


def plain_value(payload: bytes) -> Any:
    """A ``/set/{attribute}`` payload: a JSON scalar (``true``, ``24``) or else the text (``ON``)."""
    text = payload.decode("utf-8", errors="replace").strip()
    try:
        value = loads(text)
    except PayloadError:
        return text
    return value if isinstance(value, str | int | float | bool) else text


REQUESTS_REFUSED = {
    "permit_join": "HyperHome's devices join through the home file, not over the air",
    "device/remove": "devices are removed from the home file",
    "device/rename": "devices are renamed in the home file (their name)",
    "restart": "restart HyperHome itself (hyperhome up)",
}


class Zigbee2MqttBridge:
    """The Zigbee2MQTT face of one home; ``async with`` it after the devices have started."""

    def __init__(self, connect: Connector, login: Login, topics: Topics) -> None:
        self.connect = connect
        self.login = login
        self.topics = topics
        self.home = topics.home
        self.metas: dict[str, Meta] = {}
        self.states: dict[str, dict[str, Any]] = {}
        self.online: dict[str, bool] = {}
        self.names: dict[str, str] = {}
        self.by_name: dict[str, str] = {}
        self.bus: Bus | None = None
        self._ids = itertools.count(1)
        self._prefix = f"z{secrets.token_hex(3)}-"

    # -- life cycle ------------------------------------------------------------------------------
    async def __aenter__(self) -> Zigbee2MqttBridge:
        bus = self.connect(
            self.login,
            client_id=client_id_of(self.home, ZIGBEE2MQTT),
            will=Will(f"{BASE}/bridge/state", dumps({"state": "offline"}), retain=True),
            on_connect=self._announce,
        )
        t = self.topics
        await bus.subscribe(t.meta("+"), self._on_meta)
        await bus.subscribe(t.state("+"), self._on_state)
        await bus.subscribe(t.availability("+"), self._on_availability)
        await bus.subscribe(t.reply("+"), self._on_reply)
        await bus.subscribe(f"{BASE}/+/set", self._on_set)
        await bus.subscribe(f"{BASE}/+/set/+", self._on_set_attribute)
        await bus.subscribe(f"{BASE}/+/get", self._on_get)
        await bus.subscribe(f"{BASE}/bridge/request/#", self._on_request)
        self.bus = bus
        await bus.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        bus, self.bus = self.bus, None
        if bus is not None:
            with contextlib.suppress(NotConnectedError):
                await bus.publish(f"{BASE}/bridge/state", {"state": "offline"}, retain=True)
            await bus.__aexit__(None, None, None)

    async def _announce(self) -> None:
        await self._publish(f"{BASE}/bridge/state", {"state": ONLINE}, retain=True)
        await self._publish(f"{BASE}/bridge/info", self.info(), retain=True)
        await self._publish(f"{BASE}/bridge/devices", self.devices(), retain=True)

    async def _publish(self, topic: str, payload: Any, *, retain: bool = False) -> None:
        bus = self.bus
        if bus is None:
            return
        try:
            await bus.publish(topic, dumps(payload), retain=retain)
        except NotConnectedError:
            log.debug("zigbee2mqtt bridge offline: not publishing %s (republished on reconnect)", topic)

    # -- what it publishes -----------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        return {
            "version": f"hyperhome-{__version__}",
            "commit": None,
            "coordinator": {"ieee_address": ieee_address(self.home, ZIGBEE2MQTT), "type": "HyperHome", "meta": {}},
            "network": None,
            "log_level": "info",
            "permit_join": False,
            "restart_required": False,
            "config": {"mqtt": {"base_topic": BASE}, "advanced": {"legacy_availability_payload": False}},
        }

    def devices(self) -> list[dict[str, Any]]:
        return [device_entry(self.home, self.metas[d], self.names[d]) for d in sorted(self.metas)]

    def _rename(self) -> None:
        self.names = friendly_names(self.metas)
        self.by_name = {name: device for device, name in self.names.items()}

    # -- from the home -----------------------------------------------------------------------------
    def _device_of(self, message: Message) -> str | None:
        ref = self.topics.parse(message.topic)
        return None if ref is None or ref.device.startswith("$") else ref.device

    async def _on_meta(self, message: Message) -> None:
        device = self._device_of(message)
        if device is None or not message.payload:
            return
        try:
            meta = Meta.model_validate(loads(message.payload))
            catalog.kind(meta.kind)
        except (ValueError, ConfigError):
            log.warning("zigbee2mqtt bridge: ignoring a malformed $meta on %s", message.topic)
            return
        if meta.id != device:
            return
        if self.metas.get(device) == meta:
            return
        self.metas[device] = meta
        self._rename()
        await self._publish(f"{BASE}/bridge/devices", self.devices(), retain=True)
        if device in self.online:  # arrived before the description
            await self._publish_availability(device)
        if device in self.states:
            await self._publish_state(device)

    async def _on_state(self, message: Message) -> None:
        device = self._device_of(message)
        if device is None:
            return
        try:
            state = loads(message.payload)
        except PayloadError:
            return
        if not isinstance(state, dict):
            return
        self.states[device] = state
        await self._publish_state(device)

    async def _publish_state(self, device: str) -> None:
        meta, state = self.metas.get(device), self.states.get(device)
        if meta is None or state is None:
            return
        await self._publish(f"{BASE}/{self.names[device]}", z2m_state(catalog.kind(meta.kind), state))

    async def _on_availability(self, message: Message) -> None:
        device = self._device_of(message)
        if device is None:
            return
        self.online[device] = message.payload.decode(errors="replace") == ONLINE
        await self._publish_availability(device)

    async def _publish_availability(self, device: str) -> None:
        if device not in self.names:
            return
        body = {"state": "online" if self.online.get(device) else "offline"}
        await self._publish(f"{BASE}/{self.names[device]}/availability", body, retain=True)

    async def _on_reply(self, message: Message) -> None:
        try:
            reply = loads(message.payload)
        except PayloadError:
            return
        if not isinstance(reply, dict) or not str(reply.get("id") or "").startswith(self._prefix):
            return
        if reply.get("ok") is False:
            error = reply.get("error") or {}
            text = f"{self._device_of(message)}: {reply.get('command')}: {error.get('code')}: {error.get('message')}"
            await self._log("error", text)

    async def _log(self, level: str, text: str) -> None:
        await self._publish(f"{BASE}/bridge/logging", {"level": level, "message": text})

    # -- from Zigbee2MQTT apps ---------------------------------------------------------------------
    def _target(self, topic: str) -> tuple[str, type[Device]] | None:
        name = topic.split("/")[1]
        device = self.by_name.get(name)
        if device is None:
            return None
        return device, catalog.kind(self.metas[device].kind)

    async def _on_set(self, message: Message) -> None:
        try:
            request = loads(message.payload)
        except PayloadError as exc:
            await self._log("error", f"{message.topic}: not JSON ({exc})")
            return
        if not isinstance(request, dict):
            await self._log("error", f"{message.topic}: a JSON object is expected")
            return
        await self._set(message.topic, request)

    async def _on_set_attribute(self, message: Message) -> None:
        attribute = message.topic.rsplit("/", 1)[-1]
        await self._set(message.topic, {attribute: plain_value(message.payload)})

    async def _set(self, topic: str, request: dict[str, Any]) -> None:
        target = self._target(topic)
        if target is None:
            await self._log("error", f"{topic}: no device {topic.split('/')[1]!r}")
            return
        device, kind = target
        commands, problems = plan_set(kind, request)
        for problem in problems:
            await self._log("error", f"{topic}: {problem}")
        for command, args in commands:
            payload = {"id": f"{self._prefix}{next(self._ids)}", "args": args}
            await self._publish(self.topics.cmd(device, command), payload)

    async def _on_get(self, message: Message) -> None:
        target = self._target(message.topic)
        if target is not None:
            await self._publish_state(target[0])

    async def _on_request(self, message: Message) -> None:
        name = message.topic.removeprefix(f"{BASE}/bridge/request/")
        try:
            body = loads(message.payload) if message.payload.strip() else {}
        except PayloadError:
            body = {}
        transaction = body.get("transaction") if isinstance(body, dict) else None
        data: Any = {}
        error: str | None = None
        if name == "health_check":
            data = {"healthy": True}
        elif name in REQUESTS_REFUSED:
            error = f"{name} is not supported: {REQUESTS_REFUSED[name]}"
        else:
            error = f"unknown request {name!r} (HyperHome answers health_check)"
        response: dict[str, Any] = {"data": data, "status": "ok" if error is None else "error"}
        if error is not None:
            response["error"] = error
        if transaction is not None:
            response["transaction"] = transaction
        await self._publish(f"{BASE}/bridge/response/{name}", response)


# -- docs/conventions.md ---------------------------------------------------------------------------
def _access(bits: int) -> str:
    return "".join(letter for bit, letter in ((STATE, "s"), (SET, "w"), (GET, "g")) if bits & bit) or "-"


def _values(expose: dict[str, Any]) -> str:
    if expose["type"] == "enum":
        return ", ".join(f"`{v}`" for v in expose["values"])
    if expose["type"] == "binary":
        return f"on `{json.dumps(expose['value_on'])}`, off `{json.dumps(expose['value_off'])}`"
    if expose["type"] == "numeric":
        low, high = expose.get("value_min"), expose.get("value_max")
        if low is not None and high is not None:
            span = f"{low} to {high}"
        elif low is not None or high is not None:
            span = f">= {low}" if low is not None else f"<= {high}"
        else:
            span = ""
        return " ".join(p for p in (span, expose.get("unit", "")) if p)
    return ""


def _set_becomes(kind: type[Device], expose: dict[str, Any]) -> str:
    if not expose["access"] & SET:
        return ""
    prop = expose["property"]
    derived = view_of(kind).derived.get(prop)
    if derived is not None:
        return "fields " + ", ".join(f"`{f}`" for f in _derived_fields(kind, prop))
    write = writes(kind)[prop]
    if write.arg is None:
        return f"`{write.command}` / `{write.when_false}`"
    return f"`{write.command} {{{write.arg}}}`"


def _derived_fields(kind: type[Device], prop: str) -> list[str]:
    by_type = _fields_by_miot_type(kind)
    if prop == "system_mode":
        return [by_type["on"], by_type["mode"]]
    return [by_type["lock-state"]]


def docs_tables() -> list[str]:
    """Per kind: each expose with its type, property, access (s = state, w = /set, g = /get), values."""
    out: list[str] = []
    for name, kind in sorted(catalog.KINDS.items()):
        out += [f"### Zigbee2MQTT: `{name}`", "", f"Model `hyperhome.{name}`, vendor `{VENDOR}`.", ""]
        out += ["| expose | type | property | access | values | `/set` becomes |", "|---|---|---|---|---|---|"]
        for expose in view_of(kind).exposes:
            rows = [(expose["type"], f) for f in expose["features"]] if "features" in expose else [("", expose)]
            for specific, item in rows:
                kind_of = f"{specific}: {item['type']}" if specific else item["type"]
                out.append(
                    f"| `{item['name']}` | {kind_of} | `{item['property']}` | {_access(item['access'])} "
                    f"| {_values(item)} | {_set_becomes(kind, item)} |"
                )
        out.append("")
    return out

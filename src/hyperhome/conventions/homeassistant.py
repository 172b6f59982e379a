"""Home Assistant MQTT discovery, derived from the device models (docs/home-assistant.md).

Nothing here names a device kind. ``entities(kind)`` reads a kind's ``State`` (its JSON Schema),
its commands' args schemas, its events and its capabilities, and makes the Home Assistant
entities a person would expect, by rules over that vocabulary:

- a ``power``/``mode``/``target_c`` state that one command sets (``set``) is a ``climate``
  (modes and ``off``, ``fan`` modes if the command sets ``fan``, the current temperature from
  ``room_temp_c``/``cabin_temp_c``, min/max from the field's bounds, the step from its ``step``);
- a ``locked`` state that a command sets is a ``lock`` (``jammed`` when the state has it);
- a ``location`` state of a kind with the ``location`` capability is a ``device_tracker``
  (home/not_home, GPS attributes when the location is ``lat,lon``);
- a kind that publishes a still image (``MediaSource.still_image``) is a ``camera``;
- the events in ``EVENT_SENSORS`` (``motion``, ``person_detected``) are ``binary_sensor``s that
  turn on with the event and off after ``EVENT_OFF_DELAY_S``;
- every other scalar state field (one level into object fields) is a ``switch``, ``number`` or
  ``select`` when a command sets it alone (``set`` with that key, or a command named after it
  taking ``on``), else a ``binary_sensor`` (booleans) or a ``sensor``, with its unit and device
  class read from the field name's suffix (``UNITS``: ``_pct``, ``_c``, ``_kwh``, ``_km``, ...).

Commands from Home Assistant go to the devices' own ``cmd/{command}`` topics, built by its
command templates (``{"args": {...}}``): there is no second command path. Every device
publishes its own configs, retained, with its own login (``Discovery``), one per entity, and
again when Home Assistant's birth message (``{prefix}/status`` = ``online``) arrives.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hyperhome import __version__
from hyperhome.broker.client import Bus, Connector, Message, Will
from hyperhome.broker.credentials import Login
from hyperhome.broker.topics import DEFAULT_HA_PREFIX, ORCHESTRATOR, Topics, discovery_hub, discovery_node
from hyperhome.broker.wire import OFFLINE, ONLINE, dumps
from hyperhome.devices.base import Device, DeviceSpec, args_schema
from hyperhome.devices.catalog import kind as kind_of
from hyperhome.devices.media import MediaSource
from hyperhome.errors import NotConnectedError
from hyperhome.tasks import TaskOwner

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

MANUFACTURER = "HyperHome (simulated)"
EVENT_OFF_DELAY_S = 30
"""Seconds an event's binary_sensor stays on after the event (Home Assistant's ``off_delay``)."""

EVENT_SENSORS: dict[str, tuple[str, str]] = {
    "motion": ("motion", "Motion"),
    "person_detected": ("occupancy", "Person"),
}
"""Events that are binary sensors in Home Assistant: event name -> (device class, name)."""

CURRENT_TEMPERATURE = ("room_temp_c", "cabin_temp_c")
"""State fields a climate's current temperature is read from, the first the state has."""

HVAC_MODES = {"auto": "auto", "cool": "cool", "heat": "heat", "dry": "dry", "fan": "fan_only"}
"""HyperHome's mode names -> Home Assistant's HVAC modes (a mode not here is left out)."""


@dataclass(frozen=True, slots=True)
class Unit:
    unit: str | None
    device_class: str | None = None
    state_class: str | None = "measurement"


UNITS: dict[str, Unit] = {
    "_temp_c": Unit("°C", "temperature"),
    "_c": Unit("°C", "temperature"),
    "_pct": Unit("%"),
    "_kwh": Unit("kWh", "energy", "total_increasing"),
    "_kmh": Unit("km/h", "speed"),
    "_km": Unit("km", "distance"),
    "_mb_per_h": Unit("MB/h"),
    "_mb": Unit("MB", "data_size", "total_increasing"),
    "_dbm": Unit("dBm", "signal_strength"),
    "_s": Unit("s", "duration"),
}
"""A number field's name suffix -> its unit, device class and state class (longest suffix first)."""

PREFIX_CLASSES: dict[str, Unit] = {
    "battery_pct": Unit("%", "battery"),
    "battery_kwh": Unit("kWh", "energy_storage"),
    "minutes_": Unit("min", "duration"),
}
"""Name starts that say more than the suffix (a battery's percentage is a ``battery``)."""

BINARY_CLASSES: dict[str, str] = {
    "door_open": "door",
    "charging": "battery_charging",
    "online": "connectivity",
    "internet": "connectivity",
    "jammed": "problem",
    "locked": "lock",
}
"""Boolean field names -> binary_sensor device classes (``lock`` is on when unlocked)."""

TIMESTAMP_NAME = re.compile(r"^(eta|ts|.*_at|.*_until)$")
"""String fields holding an RFC 3339 time (``eta``, ``auto_lock_at``, ``pin_locked_until``)."""

WORDS = {"temp": "temperature", "eta": "ETA", "ts": "time", "wifi": "Wi-Fi", "ssid": "SSID", "mb": "MB"}
"""How a word of a field name reads in an entity's name."""
UNIT_WORDS = {"c": "", "s": "", "on": "", "pct": "", "km": "", "kmh": "", "dbm": "", "mb": "", "kwh": "energy"}
"""A unit at the end of a field name: left out of the entity's name (or said as a word)."""
MAX_STATE_CHARS = 255
"""Home Assistant keeps at most this many characters of a state."""


@dataclass(frozen=True, slots=True)
class EntityPlan:
    """One entity every device of a kind becomes. Keys ending in ``topic`` hold a leaf under
    the device (``state``, ``cmd/set``, ``event/motion``, ``still``), made whole per device."""

    component: str
    key: str
    """The entity within its device ('' for the device's main entity: climate, lock, ...)."""
    name: str | None
    """Its name in Home Assistant (None: the device's own name)."""
    source: str
    """What it shows or drives, for the docs (``state.target_c``, ``event motion``, ...)."""
    config: dict[str, Any] = field(default_factory=dict)
    commands: tuple[str, ...] = ()
    """The commands it sends (the Home Assistant login may send exactly these)."""


@dataclass(frozen=True, slots=True)
class _Field:
    path: str
    """``battery_pct`` or, one level into an object, ``hotspot.on``."""
    schema: dict[str, Any]
    nullable: bool
    description: str

    @property
    def top(self) -> str:
        return self.path.split(".", 1)[0]

    @property
    def value(self) -> str:
        """A Jinja expression for the field's value in the state's JSON (None when absent)."""
        parts = self.path.split(".")
        if len(parts) == 1:
            return f"value_json.{self.path}"
        return f"(value_json.{parts[0]}.{parts[1]} if value_json.{parts[0]} else None)"

    @property
    def type(self) -> str:
        return "enum" if "enum" in self.schema else str(self.schema.get("type", "any"))


def _resolve(prop: dict[str, Any], defs: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The schema behind a property, and whether it may be null."""
    nullable = False
    if "anyOf" in prop:
        options = [p for p in prop["anyOf"] if p.get("type") != "null"]
        nullable = len(options) < len(prop["anyOf"])
        if len(options) != 1:
            return {}, nullable
        prop = {**options[0], "description": prop.get("description", "")}
    if "$ref" in prop:
        prop = {**defs.get(prop["$ref"].rsplit("/", 1)[-1], {}), "description": prop.get("description", "")}
    return prop, nullable


def _fields(kind: type[Device]) -> list[_Field]:
    """The scalar fields of a kind's state, one level into object fields (lists and maps aside)."""
    schema = kind.State.model_json_schema()
    defs = schema.get("$defs", {})
    out = []
    for name, raw in schema.get("properties", {}).items():
        prop, nullable = _resolve(raw, defs)
        if prop.get("type") == "object" and "properties" in prop:
            for sub, sub_raw in prop["properties"].items():
                sub_prop, sub_null = _resolve(sub_raw, defs)
                if _scalar(sub_prop):
                    out.append(_Field(f"{name}.{sub}", sub_prop, nullable or sub_null, sub_prop.get("description", "")))
        elif _scalar(prop):
            out.append(_Field(name, prop, nullable, prop.get("description", "")))
    return out


def _scalar(prop: dict[str, Any]) -> bool:
    return "enum" in prop or prop.get("type") in ("boolean", "number", "integer", "string")


def _setter(kind: type[Device], name: str, types: Iterable[str]) -> tuple[str, str] | None:
    """The command that sets state field ``name`` alone, and its arg: a command (not a test
    stimulus) whose args have ``name`` and require nothing else, or one called ``name`` whose
    only arg is ``on``."""
    wanted = set(types)
    for command, spec in kind.commands.items():
        schema = args_schema(spec.args)
        props, required = schema.get("properties", {}), set(schema.get("required", []))
        if command.startswith("simulate.") or name not in props or not required <= {name}:
            continue
        if _arg_type(props[name]) in wanted:
            return command, name
    named = kind.commands.get(name)
    if named is not None and "boolean" in wanted:
        props = args_schema(named.args).get("properties", {})
        if set(props) == {"on"} and _arg_type(props["on"]) == "boolean":
            return name, "on"
    return None


def _arg_type(prop: dict[str, Any]) -> str:
    options = [p for p in prop.get("anyOf", [prop]) if p.get("type") != "null"]
    first = options[0] if options else {}
    return "enum" if "enum" in first else str(first.get("type", "any"))


def _args(arg: str, value: str) -> str:
    """A command template: ``{"args": {arg: <value>}}`` with ``value`` a Jinja expression."""
    return '{"args": {"%s": {{ %s }}}}' % (arg, value)  # noqa: UP031 - Jinja braces


def label(path: str) -> str:
    """A field's name as a person reads it: ``room_temp_c`` -> ``Room temperature``,
    ``battery_kwh`` -> ``Battery energy``, ``hotspot.on`` -> ``Hotspot``."""
    words = re.split(r"[._]", path)
    if len(words) > 1 and words[-1] in UNIT_WORDS:
        tail = UNIT_WORDS[words[-1]]
        words = words[:-1] + ([tail] if tail and tail not in words else [])
    text = " ".join(WORDS.get(w, w) for w in words)
    return text[0].upper() + text[1:]


def _unit(name: str) -> Unit:
    for start, unit in PREFIX_CLASSES.items():
        if name.startswith(start):
            return unit
    for suffix in sorted(UNITS, key=len, reverse=True):
        if name.endswith(suffix):
            return UNITS[suffix]
    return Unit(None)


_PLANS: dict[type[Device], tuple[EntityPlan, ...]] = {}


def entities(kind: type[Device]) -> tuple[EntityPlan, ...]:
    """Every entity a device of ``kind`` becomes in Home Assistant (see the module docstring)."""
    if kind not in _PLANS:
        _PLANS[kind] = _derive(kind)
    return _PLANS[kind]


def _derive(kind: type[Device]) -> tuple[EntityPlan, ...]:
    fields = _fields(kind)
    by_path = {f.path: f for f in fields}
    out: list[EntityPlan] = []
    taken: set[str] = set()
    for make in (_climate, _lock, _tracker):
        made = make(kind, by_path)
        if made is not None:
            plan, used = made
            out.append(plan)
            taken |= used
    if issubclass(kind, MediaSource) and kind.still_image:
        out.append(EntityPlan("camera", "", None, "still", {"topic": "still"}))
    for event, (device_class, name) in EVENT_SENSORS.items():
        if event in kind.events:
            config = {
                "state_topic": f"event/{event}",
                "value_template": "ON",
                "device_class": device_class,
                "off_delay": EVENT_OFF_DELAY_S,
            }
            out.append(EntityPlan("binary_sensor", event, name, f"event {event}", config))
    for f in fields:
        if f.path not in taken:
            out.append(_plain(kind, f))
    return tuple(out)


def _climate(kind: type[Device], fields: dict[str, _Field]) -> tuple[EntityPlan, set[str]] | None:
    power, mode, target = fields.get("power"), fields.get("mode"), fields.get("target_c")
    if power is None or mode is None or target is None or mode.type != "enum":
        return None
    command = next(
        (
            name
            for name, spec in kind.commands.items()
            if {"power", "mode", "target_c"} <= set(args_schema(spec.args).get("properties", {}))
        ),
        None,
    )
    if command is None:
        return None
    to_ha = {m: HVAC_MODES[m] for m in mode.schema["enum"] if m in HVAC_MODES}
    from_ha = {ha: m for m, ha in to_ha.items()}
    config: dict[str, Any] = {
        "modes": ["off", *to_ha.values()],
        "mode_state_topic": "state",
        "mode_state_template": "{% if not value_json.power %}off{% else %}"
        + "{{ %s.get(value_json.mode, value_json.mode) }}{%% endif %%}" % json.dumps(to_ha),  # noqa: UP031
        "mode_command_topic": f"cmd/{command}",
        "mode_command_template": '{% if value == "off" %}{"args": {"power": false}}{% else %}'
        + '{"args": {"power": true, "mode": {{ %s.get(value, value) | tojson }}}}{%% endif %%}'  # noqa: UP031
        % json.dumps(from_ha),
        "temperature_state_topic": "state",
        "temperature_state_template": f"{{{{ {target.value} }}}}",
        "temperature_command_topic": f"cmd/{command}",
        "temperature_command_template": _args("target_c", "value"),
        "temperature_unit": "C",
        "precision": 0.1,
    }
    for key, bound in (("min_temp", "minimum"), ("max_temp", "maximum"), ("temp_step", "step")):
        if bound in target.schema:
            config[key] = target.schema[bound]
    used = {"power", "mode", "target_c"}
    current = next((fields[name] for name in CURRENT_TEMPERATURE if name in fields), None)
    if current is not None:
        config["current_temperature_topic"] = "state"
        config["current_temperature_template"] = f"{{{{ {current.value} }}}}"
    fan = fields.get("fan")
    if fan is not None and fan.type == "enum" and "fan" in args_schema(kind.commands[command].args)["properties"]:
        config |= {
            "fan_modes": list(fan.schema["enum"]),
            "fan_mode_state_topic": "state",
            "fan_mode_state_template": f"{{{{ {fan.value} }}}}",
            "fan_mode_command_topic": f"cmd/{command}",
            "fan_mode_command_template": _args("fan", "value | tojson"),
        }
        used.add("fan")
    return EntityPlan("climate", "", None, "state." + ", ".join(sorted(used)), config, (command,)), used


def _lock(kind: type[Device], fields: dict[str, _Field]) -> tuple[EntityPlan, set[str]] | None:
    locked = fields.get("locked")
    setter = _setter(kind, "locked", ["boolean"]) if locked is not None else None
    if locked is None or setter is None:
        return None
    command, arg = setter
    jammed = fields.get("jammed")
    state = f"('LOCKED' if {locked.value} else 'UNLOCKED')"
    if jammed is not None and jammed.type == "boolean":
        state = f"('JAMMED' if {jammed.value} else {state})"
    config = {
        "state_topic": "state",
        "value_template": f"{{{{ {state} }}}}",
        "command_topic": f"cmd/{command}",
        "command_template": _args(arg, "'true' if value == 'LOCK' else 'false'"),
    }
    used = {"locked"} | ({"jammed"} if jammed is not None else set())
    return EntityPlan("lock", "", None, "state." + ", ".join(sorted(used)), config, (command,)), used


def _tracker(kind: type[Device], fields: dict[str, _Field]) -> tuple[EntityPlan, set[str]] | None:
    location = fields.get("location")
    if location is None or location.type != "string" or "location" not in kind.capabilities:
        return None
    value = location.value
    attributes = (
        "{% set c = " + value + ".split(',') %}"
        "{% if c | length == 2 %}"
        "{{ dict(latitude=c[0] | float, longitude=c[1] | float, gps_accuracy=0, place=" + value + ") | tojson }}"
        "{% else %}{{ dict(place=" + value + ") | tojson }}{% endif %}"
    )
    config = {
        "state_topic": "state",
        "value_template": f"{{{{ 'home' if {value} == 'home' else 'not_home' }}}}",
        "json_attributes_topic": "state",
        "json_attributes_template": attributes,
        "source_type": "gps",
    }
    return EntityPlan("device_tracker", "", None, "state.location", config), {"location"}


def _plain(kind: type[Device], f: _Field) -> EntityPlan:
    config: dict[str, Any]
    key = f.path.replace(".", "_")
    name = label(f.path)
    source = f"state.{f.path}"
    leaf = f.path.rsplit(".", 1)[-1]
    setter = _setter(kind, f.path, ["boolean"] if f.type == "boolean" else [f.type]) if "." not in f.path else None
    if f.type == "boolean":
        if setter is not None:
            command, arg = setter
            config = {
                "state_topic": "state",
                "value_template": f"{{{{ 'ON' if {f.value} else 'OFF' }}}}",
                "state_on": "ON",
                "state_off": "OFF",
                "command_topic": f"cmd/{command}",
                "payload_on": json.dumps({"args": {arg: True}}),
                "payload_off": json.dumps({"args": {arg: False}}),
            }
            return EntityPlan("switch", key, name, source, config, (command,))
        device_class = BINARY_CLASSES.get(leaf)
        on, off = ("OFF", "ON") if device_class == "lock" else ("ON", "OFF")  # lock: on means unlocked
        config = {
            "state_topic": "state",
            "value_template": f"{{{{ '{on}' if {f.value} else '{off}' }}}}",
        }
        if device_class:
            config["device_class"] = device_class
        return EntityPlan("binary_sensor", key, name, source, config)
    if f.type in ("number", "integer"):
        unit = _unit(leaf)
        if setter is not None and "minimum" in f.schema and "maximum" in f.schema:
            command, arg = setter
            config = {
                "state_topic": "state",
                "value_template": f"{{{{ {f.value} }}}}",
                "command_topic": f"cmd/{command}",
                "command_template": _args(arg, "value"),
                "min": f.schema["minimum"],
                "max": f.schema["maximum"],
                "step": 1 if f.type == "integer" else f.schema.get("step", 0.1),
            }
            if unit.unit:
                config["unit_of_measurement"] = unit.unit
            return EntityPlan("number", key, name, source, config, (command,))
        config = {"state_topic": "state", "value_template": f"{{{{ {f.value} }}}}"}
        if unit.unit:
            config["unit_of_measurement"] = unit.unit
        if unit.device_class:
            config["device_class"] = unit.device_class
        if unit.state_class:
            config["state_class"] = unit.state_class
        return EntityPlan("sensor", key, name, source, config)
    if f.type == "enum":
        options = [str(v) for v in f.schema["enum"]]
        if setter is not None:
            command, arg = setter
            config = {
                "state_topic": "state",
                "value_template": f"{{{{ {f.value} }}}}",
                "command_topic": f"cmd/{command}",
                "command_template": _args(arg, "value | tojson"),
                "options": options,
            }
            return EntityPlan("select", key, name, source, config, (command,))
        # a text sensor: the MQTT sensor of 2024.3 takes no ``options`` (an ``enum`` sensor needs them)
        return EntityPlan("sensor", key, name, source, {"state_topic": "state", "value_template": _text(f)})
    if TIMESTAMP_NAME.match(leaf):
        config = {
            "state_topic": "state",
            "value_template": f"{{{{ {f.value} }}}}",
            "device_class": "timestamp",
        }
        return EntityPlan("sensor", key, name, source, config)
    return EntityPlan("sensor", key, name, source, {"state_topic": "state", "value_template": _text(f)})


def _text(f: _Field) -> str:
    """A text sensor's template: at most MAX_STATE_CHARS; null is ``unknown``, Home Assistant's
    word for it (a text sensor would show ``None`` as it is)."""
    return f"{{% set v = {f.value} %}}{{{{ v[:{MAX_STATE_CHARS}] if v is not none else 'unknown' }}}}"


# -- per device --------------------------------------------------------------------------------


def model_name(kind: str) -> str:
    """``air_conditioner`` -> ``Air conditioner``."""
    return kind.replace("_", " ").capitalize()


def hub_identifier(home: str) -> str:
    return f"hyperhome.{home}"


def device_identifier(home: str, device: str) -> str:
    return f"hyperhome.{home}.{device}"


def object_id(device: str, key: str) -> str:
    """The entity's object id (Home Assistant's entity id is ``{component}.{object_id}``)."""
    return re.sub(r"[^a-z0-9_]", "_", f"{device}_{key}" if key else device)


def configs(spec: DeviceSpec, topics: Topics, prefix: str = DEFAULT_HA_PREFIX) -> list[tuple[str, dict[str, Any]]]:
    """``(topic, payload)`` of every discovery config of one device (``spec`` in ``topics``' home)."""
    kind = kind_of(spec.kind)
    device: dict[str, Any] = {
        "identifiers": [device_identifier(topics.home, spec.id)],
        "name": spec.name or spec.id,
        "model": model_name(kind.kind),
        "manufacturer": MANUFACTURER,
        "sw_version": __version__,
        "via_device": hub_identifier(topics.home),
    }
    if spec.room:
        device["suggested_area"] = spec.room.replace("_", " ").replace("-", " ").capitalize()
    base = topics.device(spec.id)
    node = discovery_node(topics.home, spec.id)
    out = []
    for plan in entities(kind):
        payload: dict[str, Any] = {
            "name": plan.name,
            "unique_id": f"{device_identifier(topics.home, spec.id)}.{plan.key or plan.component}",
            "object_id": object_id(spec.id, plan.key),
            "availability_topic": topics.availability(spec.id),
            "payload_available": ONLINE,
            "payload_not_available": OFFLINE,
            "device": device,
            "origin": {"name": "HyperHome", "sw_version": __version__},
        }
        for key, value in plan.config.items():
            payload[key] = f"{base}/{value}" if key.endswith("topic") else value
        out.append((f"{prefix}/{plan.component}/{node}/{plan.key or plan.component}/config", payload))
    return out


def hub_config(home: str, name: str, topics: Topics, prefix: str = DEFAULT_HA_PREFIX) -> tuple[str, dict[str, Any]]:
    """The home's own device (every device is ``via_device`` of it): a connectivity
    binary_sensor of the orchestrator, published with the orchestrator's login."""
    payload = {
        "name": "Orchestrator",
        "unique_id": f"{hub_identifier(home)}.orchestrator",
        "object_id": f"{home}_orchestrator",
        "state_topic": topics.availability(ORCHESTRATOR),
        "payload_on": ONLINE,
        "payload_off": OFFLINE,
        "device_class": "connectivity",
        "device": {
            "identifiers": [hub_identifier(home)],
            "name": name,
            "model": "Home",
            "manufacturer": MANUFACTURER,
            "sw_version": __version__,
        },
        "origin": {"name": "HyperHome", "sw_version": __version__},
    }
    return f"{prefix}/binary_sensor/{discovery_hub(home)}/orchestrator/config", payload


def commands(specs: Iterable[DeviceSpec]) -> list[str]:
    """``{device}/{command}`` of every command the home's entities send (the HA login's rights)."""
    return sorted({f"{spec.id}/{c}" for spec in specs for plan in entities(kind_of(spec.kind)) for c in plan.commands})


# -- publishing --------------------------------------------------------------------------------


class Discovery:
    """Publishes discovery configs on a client's own connection, with its own login: after every
    (re)connect (a restarted broker has lost what was retained) and whenever Home Assistant's
    birth message (``{prefix}/status`` = ``online``) arrives.

    ``attach(connect)`` wraps the connector the client connects through; after the client has
    started, ``listen()`` subscribes to the birth message on its connection. An async context
    manager: it owns the task a birth message starts (handlers must not wait).
    """

    def __init__(
        self,
        owner: str,
        configs: list[tuple[str, dict[str, Any]]],
        prefix: str = DEFAULT_HA_PREFIX,
        *,
        after: asyncio.Event | None = None,
    ) -> None:
        self._after = after
        """Publish the first time only once this is set (a device's configs after the home's own
        device, which they are ``via_device`` of: Home Assistant links a device to its hub only if
        the hub is there when the device is made)."""
        self._payloads = [(topic, dumps(payload)) for topic, payload in configs]
        self.status_topic = f"{prefix}/status"
        self.bus: Bus | None = None
        self.rounds = 0
        """Times every config went out (each connect, each birth message)."""
        self._tasks = TaskOwner(f"{owner} discovery", logger=log)

    @property
    def topics(self) -> list[str]:
        return [topic for topic, _ in self._payloads]

    async def __aenter__(self) -> Discovery:
        await self._tasks.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._tasks.aclose()

    def attach(self, connect: Connector) -> Connector:
        """``connect``, with the configs published after the client's own announcement."""
        discovery = self

        def connector(
            login: Login,
            *,
            client_id: str | None = None,
            will: Will | None = None,
            on_connect: Callable[[], Awaitable[None]] | None = None,
        ) -> Bus:
            async def announce() -> None:
                if on_connect is not None:
                    await on_connect()
                after = discovery._after
                if after is None or after.is_set():
                    await discovery.publish()
                else:  # not in on_connect: the hub's client may start after this one
                    discovery._tasks.spawn(discovery._publish_after(after))

            bus = connect(login, client_id=client_id, will=will, on_connect=announce)
            discovery.bus = bus
            return bus

        return connector

    async def listen(self) -> None:
        """Hear Home Assistant's birth message (on the connection ``attach`` saw made)."""
        assert self.bus is not None
        await self.bus.subscribe(self.status_topic, self._on_status)

    def _on_status(self, message: Message) -> None:
        if message.payload.strip() == ONLINE.encode():
            self._tasks.spawn(self.publish())

    async def _publish_after(self, event: asyncio.Event) -> None:
        await event.wait()
        await self.publish()

    async def publish(self) -> None:
        bus = self.bus
        if bus is None:
            return
        try:
            for topic, payload in self._payloads:  # one by one: paho warns of many publishes in flight
                await bus.publish(topic, payload, retain=True)
        except NotConnectedError:
            log.debug("offline: the discovery configs go out again on reconnect")
            return
        self.rounds += 1

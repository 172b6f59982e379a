"""docs/conventions.md, generated from the device models (never written by hand twice).

``python -m hyperhome.conventions.docs > docs/conventions.md`` rewrites it; a test fails when
the file and the models drift apart.
"""

from __future__ import annotations

import sys

from hyperhome.conventions import miot, zigbee2mqtt

HEADER = """# Conventions: Zigbee2MQTT and Mi Home (MIoT)

Generated from the device models by `python -m hyperhome.conventions.docs > docs/conventions.md`;
do not edit by hand (a test fails when this page and the models drift apart). Nothing here is
written per device: each table is derived from the kinds' State models, their commands and
events, and the small per-kind MIoT declaration (which standard service a field belongs to).
Adding a field to a kind's model adds it to both mappings and to this page.
"""

Z2M_INTRO = """## Zigbee2MQTT

`hyperhome up --zigbee2mqtt` (or `zigbee2mqtt: true` in the home file) starts a bridge, one more
MQTT client with its own login (`{home}.$zigbee2mqtt`), that speaks Zigbee2MQTT's topics under
`zigbee2mqtt/`, so apps written for Zigbee2MQTT list and drive the home unchanged. It turns
every `/set` into the devices' own commands on `cmd/` (the same validation, the same replies;
a refusal is logged on `zigbee2mqtt/bridge/logging`), and mirrors each device's state.

{topics}
A device's friendly name is its `name` when that is one topic level (no `/`, `+`, `#`), unique
in the home and not `bridge`; else its id. Requests: `health_check` answers
`{"healthy": true}`; `permit_join`, `device/remove`, `device/rename` and `restart` are refused
with `status: error` (devices join, leave and are named in the home file); any other is
refused as unknown.

Access control (the one table, both brokers): the bridge reads every device's `$meta`,
`state`, `$availability` and `reply`, publishes on their `cmd/` topics and owns `zigbee2mqtt/#`;
it cannot publish a device's state. An app logs in as the home's controller (or a seat), which
may read `zigbee2mqtt/#` and publish `+/set`, `+/set/+`, `+/get` and `bridge/request/#`, and
nothing else there; a device may do none of it. The base topic is Zigbee2MQTT's `zigbee2mqtt`,
so one home per broker speaks it (`hyperhome up` runs one home per broker).

Exposes: one generic expose per State field (bool: `binary` with `value_on: true`; a number:
`numeric` with `value_min`/`value_max` from the model and the unit of its name; an enum:
`enum`; a string: `text`; objects and lists stay in the state but have no expose), `access`
= 1 (in the state) + 4 (`/get`) + 2 when the field has a write (the kind's `set` command has an
arg of its name, a command of its name takes one bool, or the kind names it in `switches`). A
kind whose MIoT declaration has a `target-temperature` / `temperature` / `on` + `mode` /
`fan-level` property also gets Zigbee2MQTT's specific `climate` expose
(`current_heating_setpoint`, `local_temperature`, `system_mode`, `fan_mode`); one with a
`lock-state` property gets the specific `lock` expose (`state` LOCK/UNLOCK, `lock_state`).
"""

MIOT_INTRO = """## Mi Home (MIoT)

Every device's `$meta` carries `miot` ([protocol.md](protocol.md)): a
`urn:miot-spec-v2:device:{type}:{code}:hyperhome-{kind}:1` type and the ids of every state
field (`siid`/`piid`), command (`siid`/`aiid`) and event (`siid`/`eiid`). The rules: `siid 1` is
`device-information` (piid 1 manufacturer `HyperHome`, 2 model `hyperhome.{kind}`, 3 serial
number = the device id, 4 firmware revision); the kind's declared standard services follow from
`siid 2` in declaration order (the AC, the lock, the camera and the speaker follow the services
of the matching Xiaomi device classes: `air-conditioner`, `fan-control`, `environment`; `lock`,
`door`, `battery`; `camera-control`, `camera-detection`; `speaker`, `intelligent-speaker`); one
last service, `hyperhome`, holds whatever no service names (a kind with no declaration has one
service named after its type). Within a service ids count from 1 in declaration order, then in
the model's order. An enum is a `uint8` numbering its options from 0; an object or a list reads
as its JSON text. Every device answers `get_properties`, `set_properties` and `action`
([devices.md](devices.md)); `set_properties` writes through the same commands as Zigbee2MQTT's
`/set`.
"""


TOPICS = [
    (
        "`{friendly_name}`",
        "bridge",
        "no (Zigbee2MQTT's default)",
        "the device's state fields, the specific exposes' keys (`system_mode`, a lock's `state`, "
        "`lock_state`), `last_seen`",
    ),
    ("`{friendly_name}/availability`", "bridge", "yes", '`{"state": "online"}` or `{"state": "offline"}`'),
    (
        "`{friendly_name}/set`",
        "an app",
        "no",
        'a JSON object of exposes\' properties: `{"power": true, "target_c": 24}`',
    ),
    ("`{friendly_name}/set/{property}`", "an app", "no", "one plain value: `off`, `24`, `true`"),
    ("`{friendly_name}/get`", "an app", "no", 'anything (`{"target_c": ""}`): the state is published again'),
    ("`bridge/state`", "bridge (last will: offline)", "yes", '`{"state": "online"}`'),
    ("`bridge/info`", "bridge", "yes", "`version`, `coordinator`, `permit_join: false`, `config.mqtt.base_topic`"),
    (
        "`bridge/devices`",
        "bridge",
        "yes",
        "one entry per device: `ieee_address` (stable, from the home and device id), `friendly_name`, "
        "`definition` (`model` `hyperhome.{kind}`, `vendor`, `description`, `exposes`), `power_source`, ...",
    ),
    ("`bridge/request/{name}`", "an app", "no", '`{"transaction"?: ...}`'),
    (
        "`bridge/response/{name}`",
        "bridge",
        "no",
        '`{"data": ..., "status": "ok" or "error", "error"?: ..., "transaction"?: ...}`',
    ),
    ("`bridge/logging`", "bridge", "no", '`{"level": "error", "message": ...}` for a `/set` it could not carry out'),
]


def topics_table() -> str:
    rows = ["| topic (under `zigbee2mqtt/`) | who publishes | retained | payload |", "|---|---|---|---|"]
    rows += [f"| {topic} | {who} | {retained} | {payload} |" for topic, who, retained, payload in TOPICS]
    return "\n".join(rows) + "\n"


def zigbee2mqtt_tables() -> list[str]:
    return zigbee2mqtt.docs_tables()


def render() -> str:
    lines = [HEADER, Z2M_INTRO.replace("{topics}", topics_table()), *zigbee2mqtt_tables(), MIOT_INTRO, *miot.render()]
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())

"""docs/devices.md, generated from the device models (never written by hand twice).

``python -m hyperhome.devices.docs > docs/devices.md`` rewrites it; a test fails when the file and
the models drift apart.
"""

from __future__ import annotations

import inspect
import json
import sys
from typing import Any

from hyperhome.devices.base import Device, args_schema
from hyperhome.devices.catalog import KINDS
from hyperhome.devices.miot import spec_of
from hyperhome.devices.units import unit_of

HEADER = """# Device kinds

Generated from the device models by `python -m hyperhome.devices.docs > docs/devices.md`; do
not edit by hand (a test fails when this page and the models drift apart). Topics and payload
envelopes are in [protocol.md](protocol.md): state is published retained on
`hyperhome/{home}/{device}/state` (with `ts` and `seq` added), commands go to `cmd/{command}`,
events come on `event/{name}`, and every command's JSON Schema is also in the device's `$meta`.
"""


def _type(prop: dict[str, Any], defs: dict[str, Any]) -> str:
    if "$ref" in prop:
        name = prop["$ref"].rsplit("/", 1)[-1]
        target = defs.get(name, {})
        return "one of " + ", ".join(f"`{v}`" for v in target["enum"]) if "enum" in target else name
    if "enum" in prop:
        return "one of " + ", ".join(f"`{v}`" for v in prop["enum"])
    if "const" in prop:
        return f"`{prop['const']}`"
    if "anyOf" in prop:
        kinds = [_type(p, defs) for p in prop["anyOf"]]
        return " or ".join(k for k in kinds if k != "null") + (" or null" if "null" in kinds else "")
    kind = prop.get("type", "any")
    if prop.get("format") == "date-time":
        return "date-time (RFC 3339)"
    if kind == "array":
        return f"list of {_type(prop.get('items', {}), defs)}"
    if kind == "object" and "additionalProperties" in prop and isinstance(prop["additionalProperties"], dict):
        return f"map of {_type(prop['additionalProperties'], defs)}"
    return str(kind)


def _limits(prop: dict[str, Any]) -> str:
    parts = []
    for p in [prop, *prop.get("anyOf", [])]:
        if p.get("format") == "date-time":
            continue  # its pattern is the calendar: the type says it
        for key, sign in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<")):
            if key in p:
                parts.append(f"{sign} {p[key]}")
        for key, word in (("minLength", "min length"), ("maxLength", "max length"), ("pattern", "pattern")):
            if key in p:
                value = f"`{p[key]}`" if key == "pattern" else p[key]
                parts.append(f"{word} {value}")
    return ", ".join(parts)


def _fields_table(schema: dict[str, Any], *, no_default: str = "null") -> list[str]:
    props = schema.get("properties", {})
    if not props:
        return ["(no arguments)", ""]
    defs = schema.get("$defs", {})
    required = set(schema.get("required", []))
    rows = ["| field | type | limits | default | notes |", "|---|---|---|---|---|"]
    for name, prop in props.items():
        if name in required:
            default = "required"
        else:
            default = json.dumps(prop["default"], ensure_ascii=False) if "default" in prop else no_default
        notes = (prop.get("description") or "").replace("\n", " ")
        limits = _limits(prop).replace("|", "\\|")  # a pattern's alternatives, not a column (GFM tables)
        rows.append(f"| `{name}` | {_type(prop, defs)} | {limits} | {default} | {notes} |")
    return [*rows, ""]


def _config_table(kind: type[Device]) -> list[str]:
    """The keys a home file may set under the device's ``config:``, with units and defaults."""
    config = kind.Config
    if not config.model_fields:
        return ["(none)", ""]
    schema = config.model_json_schema()
    props, defs = schema.get("properties", {}), schema.get("$defs", {})
    rows = ["| key | type | unit | limits | default | notes |", "|---|---|---|---|---|---|"]
    for name, field in config.model_fields.items():
        prop = props.get(name, {})
        default = json.dumps(field.get_default(call_default_factory=True), ensure_ascii=False, default=str)
        limits = _limits(prop).replace("|", "\\|")
        notes = (field.description or "").replace("\n", " ")
        rows.append(f"| `{name}` | {_type(prop, defs)} | {unit_of(name)} | {limits} | {default} | {notes} |")
    return [*rows, ""]


def miot_table(kind: type[Device]) -> list[str]:
    """The kind's MIoT ids (``devices/miot.py``): one row per state field, command and event."""
    meta = spec_of(kind).meta
    services = {s["siid"]: s["type"] for s in meta["services"]}
    rows = [
        f"Type `{meta['type']}`; `siid 1` is `device-information` (piid 1 manufacturer, 2 model, "
        "3 serial number = the device id, 4 firmware revision). Read and write with the "
        "`get_properties`, `set_properties` and `action` commands.",
        "",
        "| member | siid (service) | id | MIoT type | format | access |",
        "|---|---|---|---|---|---|",
    ]
    for group, key in (("properties", "piid"), ("actions", "aiid"), ("events", "eiid")):
        for name, entry in meta[group].items():
            siid = entry["siid"]
            fmt = entry.get("format", "")
            if "value-list" in entry:
                fmt += " " + ", ".join(f"{v['value']}={v['description']}" for v in entry["value-list"])
            elif "value-range" in entry:
                fmt += " [{}, {}, {}]".format(*entry["value-range"])
            elif entry.get("json"):
                fmt += " (its JSON)"
            if "in" in entry:
                fmt = "in: " + ", ".join(entry["in"]) if entry["in"] else "in: (none)"
            what = {"properties": "state", "actions": "command", "events": "event"}[group]
            access = ", ".join(entry.get("access", []))
            where = f"{siid} ({services[siid]}) | {key} {entry[key]}"
            rows.append(f"| {what} `{name}` | {where} | `{entry['type']}` | {fmt} | {access} |")
    return [*rows, ""]


def render_kind(kind: type[Device]) -> list[str]:
    module = sys.modules[kind.__module__]
    summary = inspect.cleandoc(module.__doc__ or "").split("\n\n")[0].replace("\n", " ")
    out = [f"## `{kind.kind}`", "", summary, ""]
    if kind.capabilities:
        out += [f"Capabilities: {', '.join(f'`{c}`' for c in kind.capabilities)}.", ""]
    if kind.streams:
        out += [f"Media streams: {', '.join(f'`{s}`' for s in kind.streams)}.", ""]
    out += ["### State", "", *_fields_table(kind.State.model_json_schema())]
    out += ["### Config", "", "Set per device in a home file, under `config:` (fixed while it runs).", ""]
    out += _config_table(kind)
    out += ["### Commands", ""]
    for name, spec in sorted(kind.commands.items()):
        schema = args_schema(spec.args)
        out += [
            f"#### `{name}`",
            "",
            inspect.cleandoc(spec.doc).replace("\n", " "),
            "",
            *_fields_table(schema, no_default="optional"),
        ]
        if schema.get("description"):
            out += [inspect.cleandoc(schema["description"]).replace("\n", " "), ""]
    out += ["### Events", ""]
    if kind.events:
        out += ["| event | fields and meaning |", "|---|---|"]
        out += [f"| `{name}` | {text} |" for name, text in kind.events.items()]
    else:
        out.append("(none)")
    out += ["", "### Mi Home (MIoT) ids", "", *miot_table(kind)]
    return [*out, ""]


def render() -> str:
    lines = [HEADER]
    lines += ["| kind | module |", "|---|---|"]
    lines += [f"| [`{name}`](#{name.replace('_', '')}) | `{cls.__module__}` |" for name, cls in sorted(KINDS.items())]
    lines.append("")
    for _, cls in sorted(KINDS.items()):
        lines += render_kind(cls)
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())

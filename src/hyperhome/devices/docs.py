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


_UNITS = (  # a name's unit suffix, longest first (STYLE.md: units in names)
    ("_kwh_per_100km", "kWh/100 km"),
    ("_pct_per_h", "%/h"),
    ("_j_per_k", "J/K"),
    ("_w_per_k", "W/K"),
    ("_mb_per_h", "MB/h"),
    ("_kmh", "km/h"),
    ("_kwh", "kWh"),
    ("_pct", "%"),
    ("_km", "km"),
    ("_db", "dB"),
    ("_fps", "frames/s"),
    ("_w", "W"),
    ("_s", "s"),
    ("_c", "°C"),
)


def unit_of(name: str) -> str:
    """The unit a field's name carries (``cooling_capacity_w``: W), or "" for none."""
    return next((unit for suffix, unit in _UNITS if name.endswith(suffix)), "")


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
        out += [f"#### `{name}`", "", spec.doc or "", "", *_fields_table(schema, no_default="optional")]
        if schema.get("description"):
            out += [inspect.cleandoc(schema["description"]).replace("\n", " "), ""]
    out += ["### Events", ""]
    if kind.events:
        out += ["| event | fields and meaning |", "|---|---|"]
        out += [f"| `{name}` | {text} |" for name, text in kind.events.items()]
    else:
        out.append("(none)")
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

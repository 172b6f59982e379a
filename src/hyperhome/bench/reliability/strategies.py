"""Command payloads drawn from a command's JSON Schema with hypothesis: generated from it, mutated
from those, and arbitrary JSON (the args contract, docs/protocol.md ``$meta``).

One implementation for the property tests of the args contract (tests/devices/ and
tests/integration/test_args_contract.py) and the fuzz run of ``hyperhome bench reliability``
(``fuzz.py``): ``payloads(schema)`` draws args, half from the schema and the rest mutated or
arbitrary; ``variants(schema, payload)`` lists a payload's single mutations (each key set to each
near miss and each JSON type, dropped, unknown keys added), which cost microseconds each where a
drawn example costs milliseconds.
"""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import strategies as st

Json = Any


def wire(payload: Json) -> Json:
    """The payload as the device decodes it from the wire (tuples become lists, ...)."""
    return json.loads(json.dumps(payload))


# -- arbitrary JSON -------------------------------------------------------------------------------
HUGE_NUMBERS = st.sampled_from([10**400, -(10**400), 2**63, -(2**63) - 1, 2**64, 1e308, -1e308, 5e-324, 1e16 + 1])
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | HUGE_NUMBERS
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


# -- from the schema: valid-ish ------------------------------------------------------------------
def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = root["$defs"][name]
    return schema


def _numbers(schema: dict[str, Any], *, integer: bool) -> st.SearchStrategy[Json]:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    exclude_low, exclude_high = "exclusiveMinimum" in schema, "exclusiveMaximum" in schema
    ints = st.integers(
        None if low is None else math.floor(low) + (1 if exclude_low and low == math.floor(low) else 0),
        None if high is None else math.ceil(high) - (1 if exclude_high and high == math.ceil(high) else 0),
    )
    if integer:
        return ints | ints.map(float)  # 5.0 is an integer too
    floats = st.floats(
        low, high, exclude_min=exclude_low, exclude_max=exclude_high, allow_nan=False, allow_infinity=False
    )
    return floats | ints | st.sampled_from([v for v in (low, high) if v is not None] or [0])


def _string(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    if "pattern" in schema:
        return st.from_regex(schema["pattern"], fullmatch=True)
    low = schema.get("minLength", 0)
    high = schema.get("maxLength", low + 40)
    return st.text(min_size=low, max_size=min(high, low + 40)) | st.text(min_size=high, max_size=high)


def valid_ish(schema: dict[str, Any], root: dict[str, Any] | None = None) -> st.SearchStrategy[Json]:
    """Values built from the schema's types, keys, ranges and patterns, ignoring its rules across
    keys (``anyOf`` of ``required``, ``not``, ``if``/``then``): most are valid, some are not."""
    root = schema if root is None else root
    schema = _resolve(schema, root)
    if schema.get("type") == "object" or "properties" in schema:
        return _object(schema, root)
    if "anyOf" in schema:  # a nullable key; keywords beside anyOf (a pin's pattern) apply to every branch
        rest = {k: v for k, v in schema.items() if k != "anyOf"}
        return st.one_of([valid_ish({**rest, **branch}, root) for branch in schema["anyOf"]])
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind in ("integer", "number"):
        return _numbers(schema, integer=kind == "integer")
    if kind == "string":
        return _string(schema)
    if kind == "array":
        return st.lists(valid_ish(schema.get("items", {}), root), max_size=4)
    return JSON_VALUES


def _object(schema: dict[str, Any], root: dict[str, Any]) -> st.SearchStrategy[dict[str, Json]]:
    props: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    fixed = st.fixed_dictionaries(
        {k: valid_ish(v, root) for k, v in props.items() if k in required},
        optional={k: valid_ish(v, root) for k, v in props.items() if k not in required},
    )
    extra = schema.get("additionalProperties", True)
    if extra is False:
        return fixed
    more = st.dictionaries(st.text(max_size=8), JSON_VALUES if extra is True else valid_ish(extra, root), max_size=3)
    return st.builds(lambda a, b: {**b, **a}, fixed, more)


# -- mutations of those --------------------------------------------------------------------------
def _near_misses(prop: dict[str, Any], value: Json) -> list[Json]:
    """Values next to a valid one: the same in another JSON type, just out of range, null."""
    misses: list[Json] = [str(value), json.dumps(value), [value], {"value": value}, "yes"]
    if isinstance(value, bool):
        misses += [int(value), str(value).lower()]
    elif isinstance(value, int | float) and abs(value) < 1e300:
        misses += [value + 0.5, -value, value * 10**6, float(value), int(value)]
        for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            for option in [prop, *prop.get("anyOf", [])]:
                if key in option:
                    bound = option[key]
                    misses += [
                        bound,
                        math.nextafter(bound, math.inf),
                        math.nextafter(bound, -math.inf),
                        bound - 1,
                        bound + 1,
                    ]
    elif isinstance(value, str):
        misses += [value + "\n", " " + value, value + " ", value.upper(), value * 3, value[:-1], "\n" + value]
        if value.isascii() and value.replace(".", "", 1).lstrip("-").isdigit():
            misses.append(float(value))
    return misses


WRONG_TYPES: list[Json] = [None, True, False, 0, 1, -1, 0.5, -0.0, 1e308, 10**400, "", "x", "1", "true", [], {}, [1]]


def variants(schema: dict[str, Any], payload: dict[str, Json]) -> list[dict[str, Json]]:
    """The payload and its single mutations, every one: each key (given or not) set to each near
    miss and to each JSON type, each key dropped, unknown keys added, every number a string."""
    props: dict[str, Any] = schema.get("properties", {})
    out = [payload]
    for key in sorted(set(props) | set(payload)):
        prop = props.get(key, {})
        near = _near_misses(prop, payload[key]) if key in payload else []
        out += [{**payload, key: value} for value in near + WRONG_TYPES]
        if key in payload:
            out.append({k: v for k, v in payload.items() if k != key})
    for extra in ("id", "args", "x", *(k.upper() for k in sorted(props)[:1])):
        out.append({**payload, extra: 1})
    out.append({k: str(v) if isinstance(v, int | float) else v for k, v in payload.items()})
    return out


@st.composite
def mutated(draw: st.DrawFn, schema: dict[str, Any]) -> dict[str, Json]:
    """A valid-ish payload with one to three mutations: a wrong value, a key dropped, an unknown key."""
    payload = dict(draw(_object(schema, schema)))
    props: dict[str, Any] = schema.get("properties", {})
    names = sorted(props) or ["x"]
    for _ in range(draw(st.integers(1, 3))):
        how = draw(st.sampled_from(["value", "value", "any", "drop", "extra", "null", "strings"]))
        key = draw(st.sampled_from(names))
        if how == "value":
            current = payload[key] if key in payload else draw(valid_ish(props.get(key, {}), schema))
            payload[key] = draw(st.sampled_from(_near_misses(props.get(key, {}), current)))
        elif how == "any":
            payload[key] = draw(JSON_VALUES)
        elif how == "drop" and payload:
            payload.pop(draw(st.sampled_from(sorted(payload))))
        elif how == "extra":
            name = draw(
                st.sampled_from([key.upper(), key + "_", "id", "args", key.replace("_", "")]) | st.text(max_size=6)
            )
            payload[name] = draw(JSON_VALUES)
        elif how == "null":
            payload[key] = None
        elif how == "strings":
            payload = {k: str(v) if isinstance(v, int | float) else v for k, v in payload.items()}
    return payload


def arbitrary(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Json]]:
    """Any JSON object, with the schema's key names more often than chance would have them."""
    names = sorted(schema.get("properties", {}))
    keys = st.sampled_from(names) | st.text(max_size=6) if names else st.text(max_size=6)
    return st.dictionaries(keys, JSON_VALUES, max_size=5)


def payloads(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Json]]:
    """Args for a command with this schema: half generated from it, the rest mutated or arbitrary."""
    return st.one_of(_object(schema, schema), _object(schema, schema), mutated(schema), arbitrary(schema))

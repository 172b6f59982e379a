"""The client's side of the args contract (docs/protocol.md, ``$meta``): a JSON Schema validator
over the schema a device advertises; and the payload generators, which live in
``hyperhome.bench.reliability.strategies`` (the reliability bench's fuzz run draws from them too).

The validator is the ``jsonschema`` package's Draft 2020-12 with one keyword replaced: JSON
Schema's ``pattern`` is an ECMA-262 regular expression, and ``jsonschema`` runs it with Python's
``re``, whose ``$`` also matches before a final newline (``"home\\n"`` would match
``^[a-z]+$``). ``regress`` is an ECMA-262 engine, so the validator reads patterns as a
JavaScript client (ajv, a browser form) does.
"""

from __future__ import annotations

import functools
from typing import Any

import jsonschema
import regress
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaError

from hyperhome.bench.reliability.strategies import Json, payloads, variants, wire

__all__ = ["Json", "client_validator", "payloads", "variants", "wire"]


@functools.cache
def _ecma(pattern: str) -> regress.Regex:
    return regress.Regex(pattern)


def _ecma_pattern(validator: Any, pattern: str, instance: Any, schema: dict[str, Any]) -> Any:
    if validator.is_type(instance, "string") and _ecma(pattern).find(instance) is None:
        yield SchemaError(f"{instance!r} does not match {pattern!r}")


ClientValidator = jsonschema.validators.extend(Draft202012Validator, {"pattern": _ecma_pattern})


def client_validator(schema: dict[str, Any]) -> Any:
    """What a client that validates before sending uses: the schema checked, then compiled."""
    assert schema.get("$schema") == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)
    return ClientValidator(schema)

"""``${...}`` in an action's strings: the firing's ``because``, the trigger's fields, device state.

docs/automations.md, "Templates", lists the names; the rule model refuses any other name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from hyperhome.orchestrator.automations import describe
from hyperhome.orchestrator.automations.describe import MISSING, HomeView
from hyperhome.orchestrator.automations.model import TEMPLATE_RE


@dataclass(frozen=True)
class StateLookup:
    """``${state.<device>.<field>}``: read when the action runs, not when the rule fired."""

    home: HomeView

    def get(self, path: str) -> Any:
        device, _, rest = path.partition(".")
        return self.home.value(device, rest)


def _lookup(values: dict[str, Any], name: str) -> Any:
    root, _, rest = name.partition(".")
    value = values.get(root, MISSING)
    if isinstance(value, StateLookup):
        return value.get(rest)
    if rest:
        return describe.get_path(value, rest)
    return value


_WHOLE_RE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_.-]*)\}$")


def render(value: Any, values: dict[str, Any]) -> Any:
    """``${name}`` replaced: a whole-string reference keeps the value's type, missing is null;
    inside text, missing and null read "unknown"."""
    if isinstance(value, str):
        whole = _WHOLE_RE.fullmatch(value)
        if whole is not None:
            found = _lookup(values, whole[1])
            return None if found is MISSING else found
        return TEMPLATE_RE.sub(lambda m: _text(_lookup(values, m[1])), value)
    if isinstance(value, dict):
        return {k: render(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, values) for v in value]
    return value


def _text(value: Any) -> str:
    if value is MISSING or value is None:
        return "unknown"
    if isinstance(value, float):
        return describe.number(value)
    return str(value)

"""Durations as people write them in YAML: ``"90s"``, ``"40m"``, ``"1h30m"``, ``"2.5s"``, ``"300ms"``, a plain
number of seconds, and (where Home Assistant users expect it) ``"00:05:00"``.

One parser for scenario files and automation rules; a leaf module, importable from any layer.
"""

from __future__ import annotations

import re
from typing import Any

_UNITS_RE = re.compile(
    r"^\s*(?:(\d+(?:\.\d+)?)\s*h)?\s*(?:(\d+(?:\.\d+)?)\s*m(?!s))?\s*(?:(\d+(?:\.\d+)?)\s*s)?\s*(?:(\d+(?:\.\d+)?)\s*ms)?\s*$"
)
CLOCK_RE = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}(?:\.\d+)?))?$")
"""``HH:MM`` or ``HH:MM:SS(.fff)``: Home Assistant's way of writing a duration (and a time of day)."""
DURATION_PATTERN = r"^\s*(\d+(\.\d+)?\s*h)?\s*(\d+(\.\d+)?\s*m(?!s))?\s*(\d+(\.\d+)?\s*s)?\s*(\d+(\.\d+)?\s*ms)?\s*$"
"""``_UNITS_RE`` as a JSON Schema pattern, for editors."""


def parse_duration(value: Any, *, clock_form: bool = False) -> float:
    """Seconds from ``"40m"``, ``"1h30m"``, ``"2.5s"``, ``"300ms"`` or a number of seconds; with ``clock_form``
    also from ``"00:05:00"``. ValueError (saying what to write) for anything else."""
    if isinstance(value, bool):
        msg = f"not a duration: {value!r}"
        raise ValueError(msg)
    if isinstance(value, int | float):
        if value < 0:
            msg = f"a duration cannot be negative: {value}"
            raise ValueError(msg)
        return float(value)
    if not isinstance(value, str):
        msg = f"not a duration: {value!r}"
        raise ValueError(msg)
    if clock_form and (clock := CLOCK_RE.fullmatch(value.strip())) is not None:
        return int(clock[1]) * 3600 + int(clock[2]) * 60 + float(clock[3] or 0)
    match = _UNITS_RE.fullmatch(value)
    if not value.strip() or match is None or not any(match.groups()):
        hint = "90s, 5m, 1h30m or 00:05:00" if clock_form else "90s, 40m, 1h30m, 2.5s, 300ms"
        msg = f"not a duration: {value!r} (write e.g. {hint})"
        raise ValueError(msg)
    hours, minutes, seconds, millis = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds + millis / 1000


def format_duration(seconds: float) -> str:
    """``2400`` -> ``"40m"``, ``5400.5`` -> ``"1h30m0.5s"``; the inverse of ``parse_duration``."""
    whole_h, rest = divmod(seconds, 3600)
    whole_m, secs = divmod(rest, 60)
    parts = [f"{int(whole_h)}h" if whole_h else "", f"{int(whole_m)}m" if whole_m else ""]
    secs = round(secs, 3)
    if secs or not any(parts):
        parts.append(f"{secs:g}s")
    return "".join(parts)


def format_span(seconds: float) -> str:
    """A span for people to read: ``4h41m32s`` (whole seconds from a minute up), ``12.3s``, ``0.35s``."""
    if seconds >= 60:
        return format_duration(round(seconds))
    if seconds >= 1:
        return f"{round(seconds, 1):g}s"
    return f"{round(seconds, 2):g}s"

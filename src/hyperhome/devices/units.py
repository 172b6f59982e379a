"""The unit a field's name carries (STYLE.md: units in names), for docs and conventions."""

from __future__ import annotations

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

"""The Mi Home (MIoT) mapping as tables, for docs/conventions.md.

The ids are derived with the devices (``devices/miot.py``: every ``$meta`` carries them); this
renders them for every kind at once.
"""

from __future__ import annotations

from hyperhome.devices.catalog import KINDS
from hyperhome.devices.docs import miot_table
from hyperhome.devices.miot import CODES, spec_of


def overview() -> list[str]:
    """One row per kind: its MIoT device type and services by siid."""
    rows = ["| kind | MIoT type | services (siid) |", "|---|---|---|"]
    for name, kind in sorted(KINDS.items()):
        meta = spec_of(kind).meta
        services = ", ".join(f"{s['siid']} `{s['type']}`" for s in meta["services"])
        rows.append(f"| `{name}` | `{meta['type']}` | {services} |")
    return [*rows, ""]


def codes() -> list[str]:
    rows = ["| code | meaning |", "|---|---|"]
    rows += [f"| `{code}` | {text} |" for code, text in CODES.items()]
    return [*rows, ""]


def render() -> list[str]:
    out = [*overview(), "Result codes:", "", *codes()]
    for name, kind in sorted(KINDS.items()):
        out += [f"### MIoT: `{name}`", "", *miot_table(kind)]
    return out

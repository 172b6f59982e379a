"""docs/devices.md is generated from the models; it must not drift from them."""

from __future__ import annotations

from pathlib import Path

from hyperhome.devices.catalog import KINDS
from hyperhome.devices.docs import render

DOC = Path(__file__).resolve().parents[2] / "docs" / "devices.md"


def test_devices_md_matches_the_models() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/devices.md is stale: run `python -m hyperhome.devices.docs > docs/devices.md`"
    )


def test_every_kind_documents_every_command_and_event() -> None:
    text = DOC.read_text(encoding="utf-8")
    for name, kind in KINDS.items():
        assert f"## `{name}`" in text
        for command in kind.commands:
            assert f"#### `{command}`" in text
            assert kind.commands[command].doc, f"{name}.{command} has no docstring"
        for event in kind.events:
            assert f"| `{event}` |" in text

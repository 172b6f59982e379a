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


def _section(text: str, kind: str) -> str:
    start = text.index(f"\n## `{kind}`")
    end = text.find("\n## `", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_every_config_key_is_documented_with_its_unit_and_default() -> None:
    """A home file's ``config:`` keys are learnt from the page, not from error messages."""
    text = DOC.read_text(encoding="utf-8")
    for name, kind in KINDS.items():
        section = _section(text, name)
        assert "### Config" in section
        for key, field in kind.Config.model_fields.items():
            assert field.description, f"{name} config {key} has no docstring"
            row = next(line for line in section.splitlines() if line.startswith(f"| `{key}` |"))
            assert field.description.split("\n")[0][:40] in row
    ac = _section(text, "air_conditioner")
    assert "| `cooling_capacity_w` | number | W | > 0 | 3500.0 |" in ac
    assert "| `approach_radius_km` | number | km |" in _section(text, "phone")

"""docs/conventions.md is generated from the models; it must not drift from them."""

from __future__ import annotations

from pathlib import Path

from hyperhome.conventions.docs import render
from hyperhome.devices.catalog import KINDS
from hyperhome.devices.miot import spec_of

DOC = Path(__file__).resolve().parents[2] / "docs" / "conventions.md"


def test_conventions_md_matches_the_models() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/conventions.md is stale: run `python -m hyperhome.conventions.docs > docs/conventions.md`"
    )


def test_every_kind_has_both_mappings_and_its_miot_type() -> None:
    text = DOC.read_text(encoding="utf-8")
    for name, kind in KINDS.items():
        assert f"### Zigbee2MQTT: `{name}`" in text
        assert f"### MIoT: `{name}`" in text
        assert spec_of(kind).meta["type"] in text
        for field in kind.State.model_fields:
            assert f"state `{field}`" in text

"""docs/home-assistant.md is generated from the models; it must not drift from them."""

from __future__ import annotations

from pathlib import Path

from hyperhome.conventions import homeassistant
from hyperhome.devices.catalog import KINDS
from hyperhome.home.homeassistant_docs import demo_entities, render

DOC = Path(__file__).resolve().parents[2] / "docs" / "home-assistant.md"


def test_home_assistant_md_matches_the_models() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/home-assistant.md is stale: run `python -m hyperhome.home.homeassistant_docs > docs/home-assistant.md`"
    )


def test_the_page_lists_every_entity_of_every_kind() -> None:
    text = DOC.read_text(encoding="utf-8")
    for name, kind in KINDS.items():
        assert f"### `{name}`" in text
        for plan in homeassistant.entities(kind):
            assert f"`{plan.source}`" in text
    for entity in demo_entities():
        assert f"- `{entity}`" in text

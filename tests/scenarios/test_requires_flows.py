"""A scenario that needs a flow kind the orchestrator does not run is skipped, saying which."""

from __future__ import annotations

from pathlib import Path

from hyperhome.scenarios.testing import run_scenario

STORY = """\
title: Needs a flow nobody wrote
article: "Teleports the car home."
home: demo
requires_flows: [camera_handoff, teleport]
steps:
  - expect: {device: door-lock, state: {locked: true}}
"""


async def test_a_scenario_needing_an_unknown_flow_kind_is_skipped_naming_it(tmp_path: Path) -> None:
    story = tmp_path / "teleport.yaml"
    story.write_text(STORY, encoding="utf-8")
    result = await run_scenario(story)
    assert result.status == "skipped"
    assert result.failure == "the orchestrator does not run the flow(s) teleport yet"
    assert result.golden == "not compared"


async def test_a_scenario_needing_only_known_flows_runs(tmp_path: Path) -> None:
    story = tmp_path / "known.yaml"
    story.write_text(STORY.replace(", teleport", ""), encoding="utf-8")
    result = await run_scenario(story, update_golden=True)
    assert result.status == "passed", result.failure

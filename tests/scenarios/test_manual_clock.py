"""A scenario file with ``clock: {mode: manual}``: the runner advances time itself, step by step,
waiting after each for the home to be quiet (outside clients too). With nobody outside, the trace
is the one virtual time gives, on both brokers."""

from __future__ import annotations

from pathlib import Path

import pytest

from hyperhome.scenarios.scenario import load_scenario, shipped_scenarios
from hyperhome.scenarios.testing import ScenarioRunner


def _manual_copy(name: str, tmp_path: Path) -> Path:
    source = shipped_scenarios()[name].read_text(encoding="utf-8")
    assert "\nclock:" in source, "the scenario sets its clock (start) on a line of its own"
    text = source.replace("\nclock: {", "\nclock: {mode: manual, settle: 20ms, ", 1)
    assert text != source, "expected a flow-style clock mapping"
    copy = tmp_path / f"{name}_manual.yaml"
    copy.write_text(text, encoding="utf-8")
    return copy


@pytest.mark.parametrize("name", ["door_lock_pin_lockout", "rear_camera_handoff"])
async def test_a_manual_scenario_gives_the_virtual_trace(
    scenario_runner: ScenarioRunner, broker_kind: str, name: str, tmp_path: Path
) -> None:
    virtual = await scenario_runner(name, broker=broker_kind)
    manual_path = _manual_copy(name, tmp_path)
    assert load_scenario(str(manual_path))[0].clock.mode == "manual"
    manual = await scenario_runner(manual_path, broker=broker_kind)
    assert manual.passed, manual.failure
    assert manual.clock == "manual"
    assert manual.trace == virtual.trace


def test_manual_and_speed_exclude_each_other(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    text = shipped_scenarios()["door_lock_pin_lockout"].read_text(encoding="utf-8")
    bad.write_text(text.replace("\nclock: {", "\nclock: {mode: manual, speed: 2, ", 1), encoding="utf-8")
    with pytest.raises(Exception, match="mode manual and speed exclude each other"):
        load_scenario(str(bad))

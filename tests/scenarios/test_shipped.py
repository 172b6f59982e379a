"""Every shipped scenario passes on both brokers in virtual time, with its golden trace."""

from __future__ import annotations

import pytest

from hyperhome.orchestrator.flows import KINDS as FLOW_KINDS
from hyperhome.scenarios.runner import golden_path
from hyperhome.scenarios.scenario import load_scenario, shipped_scenarios
from hyperhome.scenarios.testing import ScenarioRunner, run_scenario

SHIPPED = sorted(shipped_scenarios())


@pytest.mark.parametrize("name", SHIPPED)
async def test_shipped_scenario_passes(scenario_runner: ScenarioRunner, broker_kind: str, name: str) -> None:
    result = await scenario_runner(name, broker=broker_kind)
    assert result.golden == "matched", (
        f"{name}: golden trace {result.golden} ({golden_path(shipped_scenarios()[name])})"
    )
    assert all(step.status == "passed" for step in result.steps)
    assert result.trace, "a scenario that passes records what happened"


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_scenario_has_a_golden_trace_and_known_flows(name: str) -> None:
    scenario, path = load_scenario(name)
    assert set(scenario.requires_flows) <= set(FLOW_KINDS), f"{name} names a flow the orchestrator lacks"
    assert golden_path(path).is_file()


async def test_trace_is_identical_across_runs() -> None:
    first = await run_scenario("door_lock_pin_lockout")
    second = await run_scenario("door_lock_pin_lockout")
    assert first.passed, first.failure
    assert first.trace == second.trace
    assert [e["t"] for e in first.trace] == sorted(e["t"] for e in first.trace)


async def test_a_changed_golden_trace_fails_with_the_first_difference(tmp_path: pytest.TempPathFactory) -> None:
    source = shipped_scenarios()["door_lock_pin_lockout"]
    story = tmp_path / "lock.yaml"  # type: ignore[operator]
    story.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    written = await run_scenario(story, update_golden=True)
    assert written.golden == "written"
    golden = golden_path(story)
    golden.write_text(golden.read_text(encoding="utf-8").replace('"wrong_pins": 3', '"wrong_pins": 33'), "utf-8")
    result = await run_scenario(story)
    assert result.status == "failed"
    assert result.golden == "mismatch"
    assert "expected" in result.failure
    assert '"wrong_pins": 33' in result.failure

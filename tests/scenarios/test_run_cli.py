"""``hyperhome run`` as a user runs it: a real process, its exit code, its reports."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.processes import run_hyperhome

WRONG = """\
title: A wrong expectation
article: "The AC cools the room, but not to 18 °C in ten minutes."
home: demo
steps:
  - send: {device: living-ac, command: set, args: {power: true, target_c: 24}}
  - title: Too cold too soon
    wait_for: {device: living-ac, state: {room_temp_c: {max: 18}}, timeout: 10m}
  - expect: {device: living-ac, state: {power: false}}
"""


async def test_a_wrong_expectation_exits_1_and_says_why(tmp_path: Path) -> None:
    story = tmp_path / "wrong.yaml"
    story.write_text(WRONG, encoding="utf-8")
    junit, results = tmp_path / "junit.xml", tmp_path / "results.json"
    code, out, err = await run_hyperhome(
        "run", str(story), "door_lock_pin_lockout", "--junit", str(junit), "--json", str(results)
    )
    assert code == 1, out + err
    assert "step 2 (Too cold too soon) failed" in out
    assert "room_temp_c <= 18" in out
    assert "room_temp_c = " in out  # what was seen
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures")) == ("2", "1")
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    failure = cases["wrong"].find("failure")
    assert failure is not None
    assert "Too cold too soon" in (failure.get("message") or "")
    assert cases["door_lock_pin_lockout"].find("failure") is None
    data = json.loads(results.read_text(encoding="utf-8"))["results"]
    assert [r["status"] for r in data] == ["failed", "passed"]
    assert data[0]["steps"][1]["expected"].startswith("living-ac state room_temp_c <= 18")
    assert data[1]["golden"] == "matched"
    assert data[1]["trace"][0]["kind"] in ("event", "reply", "state")


async def test_passing_run_exits_0_with_a_timeline() -> None:
    code, out, err = await run_hyperhome("run", "door_lock_pin_lockout")
    assert code == 0, out + err
    assert "pin_lockout" in out  # the live timeline
    assert "+5:00.0" in out
    assert "matched" in out


async def test_scenarios_lists_the_shipped_ones() -> None:
    code, out, _ = await run_hyperhome("scenarios")
    assert code == 0
    assert "living_room_cooldown" in out
    assert "Rear camera hand-off" in out


async def test_an_unknown_scenario_is_a_usage_error() -> None:
    code, _, err = await run_hyperhome("run", "no_such_scenario")
    assert code == 2
    assert "shipped scenarios:" in err


async def test_repeat_runs_a_scenario_n_times_and_compares_the_traces() -> None:
    code, out, err = await run_hyperhome("run", "door_lock_pin_lockout", "--repeat", "3", "-q")
    assert code == 0, out + err
    assert "door_lock_pin_lockout: 3 runs, 3 identical traces" in out


def test_two_runs_that_differ_are_shown_at_their_first_differing_entry() -> None:
    from hyperhome.scenarios.runner import ScenarioResult, compare_runs

    entry = {"t": 0.0, "device": "door-lock", "kind": "state", "name": "state", "data": {"wrong_pins": 1}}
    first = ScenarioResult(name="s", title="t", path="s.yaml", broker="embedded", clock="virtual")
    first.trace = [entry, {**entry, "t": 1.0}]
    again = ScenarioResult(name="s", title="t", path="s.yaml", broker="embedded", clock="virtual")
    again.trace = [entry, {**entry, "t": 1.0, "data": {"wrong_pins": 2}}]
    assert compare_runs(first, first) is None
    difference = compare_runs(first, again)
    assert difference is not None
    assert difference.startswith("entry 1:")
    assert '"wrong_pins": 1' in difference
    assert '"wrong_pins": 2' in difference
    again.status, again.failure = "failed", "step 2 failed"
    assert compare_runs(first, again) == "it failed (step 2 failed) where run 1 passed (no failure)"


async def test_quiet_says_a_failure_once_and_which_broker_ran(tmp_path: Path) -> None:
    story = tmp_path / "wrong.yaml"
    story.write_text(WRONG, encoding="utf-8")
    code, out, err = await run_hyperhome("run", str(story), "-q")
    assert code == 1, out + err
    assert out.count("Too cold too soon") == 1, out
    assert "on embedded · virtual time" in out  # the heading says where it ran
    assert "failed wrong" in out
    assert "summary on embedded" in out
    summary = next(line for line in out.splitlines() if "│ wrong" in line)
    assert "10m " in summary  # the simulated span, no milliseconds past a minute


async def test_the_timeline_says_which_step_of_a_flow_changed() -> None:
    code, out, err = await run_hyperhome("run", "rear_camera_handoff")
    assert code == 0, out + err
    flow_lines = [line for line in out.splitlines() if " flow " in line and "camera_handoff" in line]
    assert any("step lease_source done" in line for line in flow_lines), out
    assert any("step first_frame done" in line for line in flow_lines), out
    repeated = [line.split("flow", 1)[1] for line in flow_lines]
    assert len(repeated) == len(set(repeated)), "a flow line that says nothing new"

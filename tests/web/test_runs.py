"""Scenario runs through the API: each in its own home, in the background, with live progress."""

from __future__ import annotations

import time
from typing import Any

import pytest

from hyperhome.scenarios.scenario import load_scenario, shipped_scenarios
from hyperhome.web import ScenarioRuns
from hyperhome.web.models import RunRequest
from hyperhome.web.scenario_runs import WebRuns
from tests.web.conftest import Web


@pytest.fixture
def runs() -> ScenarioRuns:
    return WebRuns(max_active=2)


async def _finished(web: Web, runs: ScenarioRuns, run_id: str) -> dict[str, Any]:
    """Wait for the run to end (on its own record), then read it through the API."""
    assert isinstance(runs, WebRuns)
    await runs.wait(run_id, lambda r: r.ended is not None, timeout_s=60)
    response = await web.client.get(f"/api/runs/{run_id}")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def test_shipped_scenarios_are_listed(web: Web) -> None:
    response = await web.client.get("/api/scenarios")
    assert response.status_code == 200
    listed = {s["name"]: s for s in response.json()}
    assert sorted(listed) == sorted(shipped_scenarios())
    scenario, _ = load_scenario("precool_before_arrival")
    assert listed["precool_before_arrival"]["title"] == scenario.title
    assert listed["precool_before_arrival"]["requires_flows"] == ["precool"]
    assert listed["precool_before_arrival"]["steps"] == len(scenario.steps)
    assert (await web.client.get("/api/home")).json()["scenarios"] is True


async def test_a_run_plays_in_its_own_home_and_reports_progress_and_result(
    web: Web, runs: ScenarioRuns, broker_kind: str
) -> None:
    response = await web.client.post("/api/scenarios/door_lock_pin_lockout/runs", json={"broker": broker_kind})
    assert response.status_code == 202
    run = response.json()
    assert response.headers["location"] == f"/api/runs/{run['id']}"
    assert run["status"] in ("queued", "running")
    assert run["broker"] == broker_kind
    done = await _finished(web, runs, run["id"])
    assert done["status"] == "passed", done
    assert done["result"]["golden"] == "matched", "the same trace as `hyperhome run`"
    assert len(done["outcomes"]) == done["steps"] == done["step"]
    assert done["timeline"], "a run records what happened"
    assert any(e["device"] == "door-lock" and "wrong_pins" in e["text"] for e in done["timeline"])
    assert done["sim_t"] == done["result"]["sim_s"]
    # the dashboard's home saw nothing of it
    lock = (await web.client.get("/api/devices/door-lock")).json()
    assert lock["state"]["wrong_pins"] == 0
    listed = (await web.client.get("/api/runs")).json()
    assert [r["id"] for r in listed] == [run["id"]]


@pytest.mark.parametrize("broker_kind", ["embedded"])
async def test_run_requests_are_checked(web: Web) -> None:
    unknown = await web.client.post("/api/scenarios/moon_landing/runs")
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "unknown_scenario"
    assert "rear_camera_handoff" in unknown.json()["detail"], "the error lists what ships"
    bad_broker = await web.client.post("/api/scenarios/door_lock_pin_lockout/runs", json={"broker": "emqx"})
    assert bad_broker.status_code == 422
    extra = await web.client.post("/api/scenarios/door_lock_pin_lockout/runs", json={"speed": 100})
    assert extra.status_code == 422
    missing = await web.client.get("/api/runs/r-999")
    assert missing.status_code == 404
    assert missing.json()["code"] == "unknown_run"


@pytest.mark.parametrize("broker_kind", ["embedded"])
async def test_runs_queue_one_at_a_time_and_refuse_past_the_limit(web: Web, runs: ScenarioRuns) -> None:
    first = (await web.client.post("/api/scenarios/door_lock_pin_lockout/runs")).json()
    second = (await web.client.post("/api/scenarios/living_room_cooldown/runs")).json()
    assert second["status"] == "queued"
    third = await web.client.post("/api/scenarios/door_lock_pin_lockout/runs")
    assert third.status_code == 429
    assert third.json()["code"] == "busy"
    done = await _finished(web, runs, second["id"])
    assert done["status"] == "passed", done
    first_done = (await web.client.get(f"/api/runs/{first['id']}")).json()
    assert first_done["status"] == "passed"
    assert first_done["ended"] <= done["started"], "one run plays at a time"
    again = await web.client.post("/api/scenarios/door_lock_pin_lockout/runs")
    assert again.status_code == 202, "a place is free again"


async def test_runs_cut_short_by_the_server_stopping_say_so() -> None:
    async with WebRuns() as runs:
        playing = runs.start("precool_before_arrival", RunRequest())
        waiting = runs.start("door_lock_pin_lockout", RunRequest())
    for run_id in (playing.id, waiting.id):
        run = runs.get(run_id)
        assert run is not None
        assert run.status == "error"
        assert run.error == "the server stopped before the run ended"
        assert run.ended is not None


async def test_a_playing_run_is_stopped_with_the_server() -> None:
    async with WebRuns() as runs:
        run = runs.start("precool_before_arrival", RunRequest())
        await runs.wait(run.id, lambda r: r.step >= 1, timeout_s=60)  # its child process is playing
        stopping = time.perf_counter()
    stopped_in = time.perf_counter() - stopping
    stopped = runs.get(run.id)
    assert stopped is not None
    assert stopped.status == "error"
    assert stopped.error == "the server stopped before the run ended"
    assert stopped_in < 10, "the child tears its home down and exits promptly"

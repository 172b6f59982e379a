"""``hyperhome fleet`` as a user runs it: 20 homes in 2 worker processes, on both brokers.

Scaled real time (x10, x6 on the embedded broker) for a short window. What must have happened follows from the plan of
days (the same seed gives the same plan): every call handed back to its own camera inside the
window is two ``camera_handoff`` flows succeeded, every tablet back on home Wi-Fi inside it one
``network_share`` flow succeeded.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hyperhome.broker.topics import ORCHESTRATOR
from hyperhome.fleet import homes
from hyperhome.fleet.plan import plan_home
from hyperhome.home.homefile import load_home
from tests.processes import one_error, run_hyperhome

HOMES, WORKERS, SEED = 20, 2, 1
SPEED = {"mosquitto": 10.0, "embedded": 6.0}
"""A flow's bounds are simulated seconds (5 s for a device's answer): amqtt, routing in Python in
the fleet's own process, gets more wall time for them."""
WINDOW_S = 42.0
MARGIN_S = 8.0
"""Wall seconds before the window's end by which a step must be due to be counted on: start-up, the ramp."""


def due_in_window(speed: float) -> dict[str, int]:
    """Flows that must have succeeded, from the plan alone."""
    demo = load_home("demo")
    expected = {"camera_handoff": 0, "network_share": 0}
    for index in range(HOMES):
        plan = plan_home(SEED, index, homes.home_id(demo, index), demo)
        horizon = plan.joined + (WINDOW_S - MARGIN_S) * speed
        for episode in plan.episodes:
            last = episode.steps[-1]
            if episode.kind == "call" and episode.steps[2].at < horizon:
                assert episode.steps[2].device == ORCHESTRATOR
                expected["camera_handoff"] += 2  # to the rear camera (replaced), and back
            if episode.kind == "hotspot" and last.at < horizon:
                expected["network_share"] += 1
    return expected


@pytest.mark.timeout(180)
@pytest.mark.parametrize("broker", ["embedded", pytest.param("mosquitto", marks=pytest.mark.mosquitto)])
async def test_a_small_fleet_lives_its_days_with_no_error(
    broker: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if broker == "mosquitto":
        request.getfixturevalue("mosquitto_available")
    expected = due_in_window(SPEED[broker])
    assert expected["camera_handoff"] >= 2
    assert expected["network_share"] >= 1
    out = tmp_path / "fleet.json"
    code, stdout, stderr = await run_hyperhome(
        "fleet",
        "--homes",
        str(HOMES),
        "--workers",
        str(WORKERS),
        "--broker",
        broker,
        "--speed",
        str(SPEED[broker]),
        "--seed",
        str(SEED),
        "--duration",
        f"{WINDOW_S:g}s",
        "--json",
        str(out),
        timeout_s=150,
    )
    assert code == 0, stdout + stderr
    assert "Traceback" not in stderr, stderr
    doc = json.loads(out.read_text())
    total = doc["total"]
    assert total["homes_up"] == HOMES
    assert total["devices_online"] == total["devices"] == HOMES * 9
    assert doc["errors"] == 0, total["errors"]
    assert total["error_replies"] == total["error_replies_seen"] == total["flows_failed"] == 0
    assert total["commands"] > HOMES  # every home's driver sent its day's steps
    kinds = total["flow_kinds"]
    for kind, count in expected.items():
        assert kinds.get(f"{kind}:succeeded", 0) >= count, kinds
    assert total["beats_done"] >= 0.95 * total["beats_due"] > 0
    assert total["lag_p99_ms"] < 1000
    assert [w["worker"] for w in doc["workers"]] == ["w0", "w1"]
    assert {w["homes_up"] for w in doc["workers"]} == {HOMES // WORKERS}
    assert "errors" in stdout
    assert "flows started / succeeded / failed" in stdout


async def test_the_embedded_broker_is_refused_for_a_big_fleet() -> None:
    one_error(
        await run_hyperhome("fleet", "--homes", "100", "--broker", "embedded", "--duration", "1s"),
        "the embedded broker routes in Python in this process: at most 250 devices (this fleet has 900); "
        "use --broker mosquitto or a broker URL",
    )


async def test_a_static_shard_needs_a_broker_url() -> None:
    one_error(
        await run_hyperhome("fleet", "--homes", "10", "--shard", "0/2", "--broker", "mosquitto"),
        "--shard runs one share of a fleet whose other shares run elsewhere: give them one --broker URL",
    )

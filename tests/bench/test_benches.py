"""Each bench once, in a tiny size, on both brokers: the figures have their shape and make sense.

Benchmarks are not tests: nothing here asserts how fast anything is, only that each bench
measures what it says (a latency is positive and ordered, every switch saw its first frame,
a scenario passed, the devices published).
"""

from __future__ import annotations

import pytest

from hyperhome.bench import brokers, density, handoff, overhead, virtual_time
from hyperhome.broker.launch import BrokerChoice

HANDOFF_KEYS = {"p50_ms", "p99_ms", "max_ms", "max_gap_frames", "stale_frames"}


async def test_handoff_measures_every_switch_at_the_tablet(broker_kind: str) -> None:
    result = await handoff.run([BrokerChoice.parse(broker_kind)], switches=4, floor_samples=20)
    figures = result.figures
    assert set(figures) == {broker_kind, "floor"}  # the JSON shape, exactly
    assert set(figures[broker_kind]) == HANDOFF_KEYS
    assert set(figures["floor"][broker_kind]) == {"p50_ms", "p99_ms"}
    fig, floor = figures[broker_kind], figures["floor"][broker_kind]
    assert 0 < fig["p50_ms"] <= fig["p99_ms"] <= fig["max_ms"]
    assert 0 < floor["p50_ms"] <= floor["p99_ms"]
    assert fig["max_gap_frames"] > 0  # the old source's last frame, then the new one's first
    assert isinstance(fig["stale_frames"], int)
    assert fig["stale_frames"] >= 0
    details = result.details[broker_kind]
    assert details["switches"] == 4
    assert details["floor_samples"] == 20
    assert details["to_phone"]["p50_ms"] > 0
    assert details["to_tablet"]["p50_ms"] > 0
    assert result.table is not None


async def test_handoff_through_the_flow(broker_kind: str) -> None:
    result = await handoff.run([BrokerChoice.parse(broker_kind)], switches=2, via="flow", floor_samples=5)
    assert result.details[broker_kind]["via"] == "flow"
    assert result.figures[broker_kind]["p50_ms"] > 0
    hops = result.details[broker_kind]["hops"]
    to_phone = [h["hop"] for h in hops["to_phone"]]
    # the flow's commands where they arrive, in the order of their arrival; the first frame last
    assert to_phone[0] == "camera_handoff -> $orchestrator"
    assert to_phone[-1] == "first frame of phone/stream/rear -> tablet"
    assert to_phone.index("stream.start -> phone") < to_phone.index("reply of phone -> $orchestrator")
    assert {"call.set_video_source -> tablet", "stream.keyframe -> phone"} <= set(to_phone)
    assert "stream.start -> phone" not in [h["hop"] for h in hops["to_tablet"]]  # its own camera: no lease
    for direction in hops.values():
        assert [h["at_ms"] for h in direction] == sorted(h["at_ms"] for h in direction)
        assert sum(h["cost_ms"] for h in direction) == pytest.approx(direction[-1]["at_ms"], abs=0.01)


async def test_virtual_time_runs_scenarios_and_the_clock(broker_kind: str) -> None:
    result = await virtual_time.run([BrokerChoice.parse(broker_kind)], scenarios=["door_lock_pin_lockout"], commands=5)
    fig = result.figures[broker_kind]
    scenario = fig["scenarios"]["door_lock_pin_lockout"]
    assert scenario["status"] == "passed"
    assert scenario["golden"] == "matched"
    assert scenario["sim_s"] == fig["sim_s"] == 300.0
    assert fig["speedup"] > 0
    assert fig["failed"] == []
    assert fig["idle_hour_wall_s"] > 0
    assert fig["command_rtt_ms"] > 0


async def test_density_starts_every_device_in_a_child_process(broker_kind: str) -> None:
    result = await density.run([broker_kind], devices=[3, 6], period_s=0.2, window_s=0.6)
    fig = result.figures[broker_kind]
    assert [step["devices"] for step in fig["steps"]] == [3, 6]
    for step in fig["steps"]:
        assert step["publishes_per_s"] > 0  # the devices published in the window
        assert step["expected_per_s"] == step["devices"] / 0.2
        assert step["cores"] > 0
        assert step["rss_mb"] > 0
        assert isinstance(step["holds"], bool)
        assert (step["broker_cores"] is None) == (broker_kind == "embedded")
    assert fig["max_devices_held"] in (0, 3, 6)


async def test_overhead_compares_the_device_path_with_raw_aiomqtt(broker_kind: str) -> None:
    result = await overhead.run([BrokerChoice.parse(broker_kind)], messages=20)
    fig = result.figures[broker_kind]
    for key in ("device_msgs_per_s", "raw_msgs_per_s", "adapter_msgs_per_s", "device_cpu_us", "payload_bytes"):
        assert fig[key] > 0, key
    assert fig["ratio"] == pytest.approx(fig["device_msgs_per_s"] / fig["raw_msgs_per_s"], rel=0.01)
    assert fig["runtime_ratio"] == pytest.approx(fig["device_msgs_per_s"] / fig["adapter_msgs_per_s"], rel=0.01)


async def test_broker_mix_is_delivered_to_the_watcher(broker_kind: str) -> None:
    result = await brokers.run([BrokerChoice.parse(broker_kind)], seconds=0.3, rate=50)
    fig = result.figures[broker_kind]
    assert fig["msgs_per_s"] > 0
    assert 0 < fig["p50_ms"] <= fig["p99_ms"]
    assert 0 < fig["rate_p50_ms"] <= fig["rate_p99_ms"]
    assert fig["rate_received_per_s"] > 0

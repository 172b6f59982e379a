"""``hyperhome bench`` as a user runs it: a real process, its table, its JSON, its errors."""

from __future__ import annotations

import json
from pathlib import Path

from tests.processes import run_hyperhome


async def test_bench_prints_a_table_and_writes_json(tmp_path: Path) -> None:
    target = tmp_path / "figures.json"
    code, out, err = await run_hyperhome(
        "bench", "overhead", "--broker", "embedded", "--messages", "10", "--json", str(target)
    )
    assert code == 0, out + err
    assert "overhead: state publishes" in out
    data = json.loads(target.read_text(encoding="utf-8"))
    assert data["machine"]["cores"] >= 1
    assert data["settings"]["benches"] == ["overhead"]
    assert data["settings"]["brokers"] == ["embedded (amqtt, in-process)"]
    assert set(data["overhead"]) == {"embedded"}
    assert data["overhead"]["embedded"]["messages"] == 10


async def test_strict_exits_1_when_a_target_is_missed(broker_kind: str) -> None:
    # two devices: the density target (5,000 on Mosquitto) is missed, and only there
    args = ("bench", "density", "--broker", broker_kind, "--devices", "2", "--period", "0.2", "--window", "0.3")
    code, out, err = await run_hyperhome(*args)
    assert code == 0, out + err
    assert "density: devices per process" in out
    code, out, err = await run_hyperhome(*args, "--strict")
    if broker_kind == "mosquitto":
        assert code == 1, out + err
        assert "target missed: density on mosquitto: held 2 devices (target 5,000)" in out
    else:
        assert code == 0, out + err
        assert "target missed" not in out


async def test_bad_options_are_refused_clearly() -> None:
    code, _, err = await run_hyperhome("bench", "density", "--devices", "10,many")
    assert code == 2
    assert "--devices takes whole numbers" in err
    code, _, err = await run_hyperhome("bench", "handoff", "--broker", "ftp://nowhere")
    assert code == 2
    assert "ftp://nowhere" in err
    code, _, err = await run_hyperhome("bench", "speed")
    assert code == 2
    assert "speed" in err

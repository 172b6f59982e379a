"""A fleet started against a broker that refuses its first connects (one coming up, a load
balancer with no backend yet): the homes whose start failed are tried again and come up, and
nothing of the failed tries counts as an error.

Through the fault proxy, in front of an operator's own Mosquitto with one shared login."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from hyperhome.broker.faults.proxy import LinkProxy
from tests.own_broker import own_mosquitto
from tests.processes import run_hyperhome

HOMES = 2
REFUSED_BOUND_S = 60.0


@pytest.mark.mosquitto
@pytest.mark.timeout(150)
async def test_homes_refused_at_first_come_up_on_a_later_try(tmp_path: Path, mosquitto_available: None) -> None:
    out = tmp_path / "fleet.json"
    async with (
        own_mosquitto(tmp_path / "broker", {"fleet": "pw"}) as broker,
        LinkProxy("fleet", "127.0.0.1", broker.port) as proxy,
    ):
        proxy.refuse(True)
        fleet = asyncio.create_task(
            run_hyperhome(
                "fleet",
                *("--homes", str(HOMES), "--workers", "1", "--duration", "20s", "--json", str(out)),
                *("--broker", f"mqtt://fleet:pw@127.0.0.1:{proxy.port}"),
                timeout_s=120,
            )
        )
        async with asyncio.timeout(REFUSED_BOUND_S):  # the first connects reach the proxy and are reset
            while proxy.drops == 0:
                assert not fleet.done(), fleet.result()
                await asyncio.sleep(0.02)
        proxy.refuse(False)
        code, stdout, stderr = await fleet
    assert code == 0, stdout + stderr
    assert "Traceback" not in stderr, stderr
    total = json.loads(out.read_text())["total"]
    assert total["home_start_retries"] >= 1
    assert total["homes_up"] == HOMES
    assert total["devices_online"] == total["devices"] == HOMES * 9
    assert total["publish_failed"] == 0
    assert total["errors"] == [], total["errors"]

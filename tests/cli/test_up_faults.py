"""``hyperhome up --faults``: a real process whose devices each connect through a fault proxy."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

import httpx
from websockets.asyncio.client import ClientConnection, connect

from tests.processes import hyperhome_up

URL_RE = re.compile(r"dashboard\s+(http://127\.0\.0\.1:\d+/)")
LATENCY_S = 0.5


async def test_up_with_faults_slows_drops_and_heals_a_device_link(broker_kind: str, tmp_path: Path) -> None:
    creds = str(tmp_path / "credentials.json")
    async with hyperhome_up("--broker", broker_kind, "--faults", "--api-port", "0", "--credentials", creds) as up:
        found = URL_RE.search(up.output)
        assert found is not None, up.output
        url = found.group(1)
        assert re.search(r"faults\s+a proxy per device link \(.*phone :\d+", up.output), up.output
        async with httpx.AsyncClient(base_url=url, timeout=15.0) as client:
            links = (await client.get("/api/faults")).json()
            assert {link["device"] for link in links} >= {"phone", "tablet", "car", "living-ac"}
            assert all(link["connections"] == 1 for link in links)  # every device came through its proxy

            set_latency = await client.post("/api/faults", json={"device": "phone", "latency": "500ms"})
            assert set_latency.status_code == 200, set_latency.text
            began = time.perf_counter()
            reply = await client.post("/api/devices/phone/commands/notify", json={"title": "slow", "body": "link"})
            took_s = time.perf_counter() - began
            assert reply.status_code == 200, reply.text
            assert took_s >= 2 * LATENCY_S, took_s  # at least once each way through the slow link
            assert (await client.post("/api/faults", json={"device": "phone", "clear": True})).status_code == 200

            ws_url = url.replace("http://", "ws://") + "api/events?snapshot=false&topic=phone%2F%24availability"
            async with connect(ws_url) as ws:
                json.loads(await ws.recv())  # hello
                dropped = (await client.post("/api/faults", json={"device": "phone", "drop": True})).json()
                assert dropped["drops"] == 1
                seen = [await _availability(ws), await _availability(ws)]
            assert seen == ["offline", "online"]  # reset, and back through the proxy
    assert up.proc.returncode == 0, up.stderr
    assert "Traceback" not in up.stderr, up.stderr


async def _availability(ws: ClientConnection) -> str:
    """The next availability the phone publishes (within 15 s)."""
    async with asyncio.timeout(15):
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == "availability":
                return str(message["data"])

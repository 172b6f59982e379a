"""``hyperhome fleet --shard N`` as a Kubernetes Indexed Job runs it: N processes, each told its
index by ``$JOB_COMPLETION_INDEX``, against an operator's broker with one login; together they
run every home once."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from tests.own_broker import own_mosquitto
from tests.processes import ENV

pytestmark = pytest.mark.mosquitto
HOMES, SHARDS = 6, 2


@pytest.mark.timeout(120)
async def test_indexed_shards_share_the_homes_of_one_fleet(tmp_path: Path, mosquitto_available: None) -> None:
    async with own_mosquitto(tmp_path, {"op": "op-secret"}) as broker:
        url = f"mqtt://op:op-secret@127.0.0.1:{broker.port}"

        async def shard(index: int) -> dict[str, object]:
            out = tmp_path / f"shard-{index}.json"
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "hyperhome",
                "fleet",
                "--homes",
                str(HOMES),
                "--shard",
                str(SHARDS),
                "--speed",
                "10",
                "--duration",
                "15s",
                "--quiet",
                "--json",
                str(out),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env={**os.environ, **ENV, "JOB_COMPLETION_INDEX": str(index), "HYPERHOME_BROKER": url},
            )
            stdout, stderr = await asyncio.wait_for(proc.communicate(), 90)
            assert proc.returncode == 0, (stdout + stderr).decode()
            doc: dict[str, object] = json.loads(out.read_text())
            return doc

        docs = await asyncio.gather(*(shard(i) for i in range(SHARDS)))
    ids = [d["settings"]["home_ids"] for d in docs]  # type: ignore[index]
    assert ids == [["demo-00000", "demo-00002"], ["demo-00003", "demo-00005"]]
    for doc in docs:
        total = doc["total"]
        assert total["homes_up"] == HOMES // SHARDS  # type: ignore[index]
        assert total["devices_online"] == 9 * HOMES // SHARDS  # type: ignore[index]
        assert doc["errors"] == 0, total
        assert doc["settings"]["broker"] == f"mqtt://op@127.0.0.1:{broker.port}"  # type: ignore[index]
    connected = {client for client, _user in broker.connections()}
    assert {f"demo-{i:05d}.living-ac" for i in range(HOMES)} <= connected  # every home once, its own client ids

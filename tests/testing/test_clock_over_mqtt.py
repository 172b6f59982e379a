"""Time control from any language: an outside MQTT client with the integration login advances a
manual home through ``$clock/cmd/advance`` and gets the reply on ``$clock/reply`` once the step is
done (docs/protocol.md, "Manual clock"), on both brokers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiomqtt
import pytest

from hyperhome.testing import TestHome


async def _ask(client: aiomqtt.Client, home: TestHome, request: dict[str, Any]) -> dict[str, Any]:
    """Publish one advance command and return its reply (matched by id)."""
    base = f"{home.root}/{home.id}/$clock"
    await client.publish(f"{base}/cmd/advance", json.dumps(request), qos=1)
    async for message in client.messages:
        reply = json.loads(bytes(message.payload))
        if reply.get("id") == request["id"]:
            return dict(reply)
    msg = "the message stream ended without a reply"
    raise AssertionError(msg)


@pytest.mark.hyperhome_brokers
async def test_an_outside_client_advances_time_and_is_answered_when_the_step_is_done(hyperhome: Any) -> None:
    home: TestHome = await hyperhome(home="demo", clock="manual")
    login = home.login("integration")
    start = home.now
    async with aiomqtt.Client(
        home.url.host, home.url.port, username=login.username, password=login.password, identifier=login.client_id
    ) as client:
        await client.subscribe(f"{home.root}/{home.id}/$clock/reply", qos=1)
        async with asyncio.timeout(30):
            done = await _ask(client, home, {"id": "step-1", "args": {"by": "10m"}})
            assert done["ok"] is True, done
            assert home.now == start + 600, "the reply came before the clock reached its target"
            assert done["result"]["now"] == home.iso()
            assert done["result"]["steps"] >= 1

            again = await _ask(client, home, {"id": "step-1", "args": {"by": "10m"}})
            assert again["result"] == done["result"], "a repeated id must get the first reply again"
            assert home.now == start + 600, "a repeated id advanced the clock"

            bad = await _ask(client, home, {"id": "step-2", "args": {"by": "ten minutes"}})
            assert bad["ok"] is False
            assert bad["error"]["code"] == "invalid_args", bad
            assert home.now == start + 600

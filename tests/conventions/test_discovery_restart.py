"""Discovery configs outlive a broker restart: every device publishes its own again on reconnect."""

from __future__ import annotations

import asyncio
import json

import aiomqtt

from hyperhome.home.homefile import load_home
from hyperhome.home.runtime import Home


async def _configs(home: Home) -> set[str]:
    """The object ids of every retained discovery config, read with the Home Assistant login."""
    creds = home.credentials
    assert creds is not None
    assert creds.home_assistant is not None
    login = creds.home_assistant
    want = sum(len(d.topics) for d in home.discovery.values())
    seen: set[str] = set()
    async with aiomqtt.Client(
        creds.host, creds.port, username=login.username, password=login.password, identifier=login.client_id
    ) as client:
        await client.subscribe("homeassistant/+/+/+/config", qos=1)
        async with asyncio.timeout(10):
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                seen.add(json.loads(message.payload)["object_id"])
                if len(seen) == want:
                    break
    return seen


async def test_configs_are_back_after_a_broker_restart(broker_kind: str) -> None:
    async with Home(load_home("demo"), broker=broker_kind, home_assistant="homeassistant") as home:
        before = await _configs(home)
        assert {"living_ac", "door_lock", "phone", "door_camera", "demo_orchestrator"} <= before
        rounds = {name: d.rounds for name, d in home.discovery.items()}
        await home.restart_broker()  # retained messages are lost; the clock holds until all are back
        assert await _configs(home) == before
        assert all(d.rounds > rounds[name] for name, d in home.discovery.items())

"""``hyperhome up --home-assistant``: a real process whose devices publish their discovery configs,
and whose credentials file gains the ``home_assistant`` login that reads them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiomqtt

from hyperhome.home.homeassistant_docs import demo_entities
from tests.processes import hyperhome_up, one_error, run_hyperhome

DEMO = Path(__file__).resolve().parents[2] / "src/hyperhome/home/homes/demo.yaml"


async def test_up_publishes_discovery_that_the_home_assistant_login_reads(tmp_path: Path) -> None:
    creds_path = tmp_path / "credentials.json"
    home = tmp_path / "home.yaml"
    text = DEMO.read_text(encoding="utf-8").replace("rules/demo.yaml", str(DEMO.parent / "rules/demo.yaml"))
    home.write_text(text + "home_assistant: true\n", encoding="utf-8")  # the home file's switch
    async with hyperhome_up("--home", str(home), "--no-api", "--credentials", str(creds_path)) as up:
        assert f"home assistant {len(demo_entities())} entities under homeassistant/" in up.output, up.output
        creds = json.loads(creds_path.read_text())
        login = creds["home_assistant"]
        assert login["username"] == "demo.$home_assistant"
        assert login["prefix"] == "homeassistant"
        assert "door-lock/set" in login["commands"]
        configs: dict[str, dict[str, object]] = {}
        async with aiomqtt.Client(
            creds["host"],
            creds["port"],
            username=login["username"],
            password=login["password"],
            identifier=login["username"],
        ) as client:
            await client.subscribe("homeassistant/+/+/+/config", qos=1)
            async with asyncio.timeout(15):
                async for message in client.messages:
                    assert isinstance(message.payload, bytes)
                    configs[str(message.topic)] = json.loads(message.payload)
                    if len(configs) == len(demo_entities()):
                        break
        ids = {f"{topic.split('/')[1]}.{payload['object_id']}" for topic, payload in configs.items()}
        assert ids == set(demo_entities())
    assert up.proc.returncode == 0, up.stderr


async def test_a_bad_prefix_is_one_error_line() -> None:
    one_error(
        await run_hyperhome("up", "--home-assistant-prefix", "home/assistant", "--no-api"),
        "--home-assistant-prefix 'home/assistant' must match ^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$",
    )

"""``hyperhome up --zigbee2mqtt`` as a user runs it: a real process, and Zigbee2MQTT-style mosquitto clients."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path

import pytest

from hyperhome.broker.credentials import CONTROLLER_SEATS, HomeCredentials
from tests.processes import hyperhome_up, run


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{tool} is missing under CI=true (apt-get install mosquitto-clients)")
        pytest.skip(f"{tool} is not installed")
    return path


async def test_up_with_zigbee2mqtt_lists_and_drives_the_devices(tmp_path: Path) -> None:
    sub, pub = _need("mosquitto_sub"), _need("mosquitto_pub")
    creds_path = tmp_path / "credentials.json"
    async with hyperhome_up("--zigbee2mqtt", "--no-api", env={"HYPERHOME_CREDENTIALS": str(creds_path)}) as up:
        creds = HomeCredentials.load(creds_path)
        assert creds.zigbee2mqtt is not None
        assert creds.zigbee2mqtt.username in up.output
        where = ["-h", creds.host, "-p", str(creds.port), "-P", creds.controller.password]
        login = [*where, "-u", creds.controller.username, "-i", creds.controller.username]
        seat = f"{creds.controller.username}-{CONTROLLER_SEATS}"
        code, out, err = await run(sub, *login, "-t", "zigbee2mqtt/bridge/devices", "-C", "1", "-W", "10")
        assert code == 0, err
        names = {device["friendly_name"] for device in json.loads(out)}
        assert "Living room AC" in names
        listener = await asyncio.create_subprocess_exec(
            sub,
            *login,
            "-t",
            "zigbee2mqtt/Living room AC/availability",
            "-t",
            "zigbee2mqtt/Living room AC",
            "-W",
            "15",
            stdout=asyncio.subprocess.PIPE,
        )
        assert listener.stdout is not None
        try:
            async with asyncio.timeout(15):
                assert json.loads(await listener.stdout.readline()) == {"state": "online"}  # retained: subscribed
                code, _, err = await run(
                    pub, *where, "-u", seat, "-i", seat, "-t", "zigbee2mqtt/Living room AC/set", "-m", '{"power": true}'
                )
                assert code == 0, err
                while True:
                    state = json.loads(await listener.stdout.readline())
                    if state.get("power") is True:
                        break
            assert state["system_mode"] == "cool"
        finally:
            listener.terminate()
            await listener.wait()
    assert up.proc.returncode == 0
    assert "Traceback" not in up.stderr, up.stderr

"""``hyperhome up`` as a user runs it: a real process, driven by mosquitto_pub and mosquitto_sub."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from collections.abc import AsyncIterator
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


@pytest.fixture
async def running_up(broker_kind: str, tmp_path: Path) -> AsyncIterator[HomeCredentials]:
    creds_path = tmp_path / "credentials.json"
    # any free API port: 8000 may be taken on a shared machine
    async with hyperhome_up(
        "--broker", broker_kind, "--api-port", "0", env={"HYPERHOME_CREDENTIALS": str(creds_path)}
    ) as up:
        assert str(creds_path) in up.output
        assert oct(creds_path.stat().st_mode & 0o777) == "0o600"
        creds = HomeCredentials.load(creds_path)
        assert f"{creds.host}:{creds.port}" in up.output
        os.environ["HYPERHOME_CREDENTIALS"] = str(creds_path)
        try:
            yield creds
        finally:
            os.environ.pop("HYPERHOME_CREDENTIALS", None)
    assert up.proc.returncode == 0
    assert "Traceback" not in up.stderr, up.stderr
    assert "not broadcasted" not in up.stderr, up.stderr


async def test_up_is_driven_by_mosquitto_clients(running_up: HomeCredentials) -> None:
    sub, pub = _need("mosquitto_sub"), _need("mosquitto_pub")
    creds = running_up
    # a login has one client id (docs/protocol.md): the controller's own for the subscriber, and
    # a seat of the controller (its password, its own client id) for the publisher beside it
    where = ["-h", creds.host, "-p", str(creds.port), "-P", creds.controller.password]
    login = [*where, "-u", creds.controller.username, "-i", creds.controller.username]
    seat = f"{creds.controller.username}-{CONTROLLER_SEATS}"
    seat_login = [*where, "-u", seat, "-i", seat]
    base = f"{creds.root}/{creds.home}"
    # the retained state of the AC, as any client sees it
    code, out, err = await run(sub, *login, "-t", f"{base}/living-ac/state", "-C", "1", "-W", "10")
    assert code == 0, err
    assert json.loads(out)["room_temp_c"] == 31.0
    # a command from mosquitto_pub gets exactly the reply the contract describes. The retained
    # $availability arriving first proves the subscriber is in place before the command goes out.
    listener = await asyncio.create_subprocess_exec(
        sub,
        *login,
        "-t",
        f"{base}/living-ac/$availability",
        "-t",
        f"{base}/living-ac/reply",
        "-C",
        "2",
        "-W",
        "15",
        stdout=asyncio.subprocess.PIPE,
    )
    assert listener.stdout is not None
    async with asyncio.timeout(15):
        assert (await listener.stdout.readline()).decode().strip() == "online"
    code, _, err = await run(
        pub,
        *seat_login,
        "-t",
        f"{base}/living-ac/cmd/set",
        "-q",
        "1",
        "-m",
        '{"id": "from-pub", "args": {"power": true, "target_c": 24}}',
    )
    assert code == 0, err
    async with asyncio.timeout(15):
        out = (await listener.stdout.readline()).decode()
        await listener.wait()
    reply = json.loads(out)
    assert reply["id"] == "from-pub"
    assert reply["ok"] is True
    assert reply["command"] == "set"


async def test_device_login_cannot_command_another_device(running_up: HomeCredentials) -> None:
    pub = _need("mosquitto_pub")
    creds = running_up
    phone = creds.devices["phone"]
    code, _, _ = await run(
        pub,
        "-h",
        creds.host,
        "-p",
        str(creds.port),
        "-u",
        phone.username,
        "-P",
        phone.password,
        "-i",
        phone.username,  # its one client id: this stands in for the phone itself
        "-t",
        f"{creds.root}/{creds.home}/living-ac/cmd/set",
        "-q",
        "1",
        "-m",
        '{"power": true}',
    )
    # MQTT 3.1.1 cannot refuse a publish: it is dropped. The AC's state is what tells.
    code, out, err = await run(sys.executable, "-m", "hyperhome", "devices", "--json")
    assert code == 0, err
    devices = {d["id"]: d for d in json.loads(out)}
    assert devices["living-ac"]["state"]["power"] is False
    assert devices["living-ac"]["availability"] == "online"
    assert devices["phone"]["meta"]["owner"] == "alice"


async def test_cli_send_prints_the_reply_and_exits_1_on_error(running_up: HomeCredentials) -> None:
    code, out, err = await run(sys.executable, "-m", "hyperhome", "send", "living-ac", "set", '{"target_c": 24}')
    assert code == 0, err
    assert json.loads(out)["ok"] is True
    code, out, err = await run(sys.executable, "-m", "hyperhome", "send", "living-ac", "set", '{"target_c": 99}')
    assert code == 1
    assert json.loads(out)["error"]["code"] == "invalid_args"
    code, out, err = await run(sys.executable, "-m", "hyperhome", "send", "living-ac", "set", "not json")
    assert code == 2
    assert "not JSON" in err

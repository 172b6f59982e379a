"""``hyperhome up`` as a user runs it: a real process, driven by mosquitto_pub and mosquitto_sub."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hyperhome.broker.credentials import HomeCredentials


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{tool} is missing under CI=true (apt-get install mosquitto-clients)")
        pytest.skip(f"{tool} is not installed")
    return path


async def _run(*argv: str, timeout_s: float = 30.0) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    async with asyncio.timeout(timeout_s):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.fixture
async def running_up(broker_kind: str, tmp_path: Path) -> AsyncIterator[HomeCredentials]:
    creds_path = tmp_path / "credentials.json"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200", "HYPERHOME_CREDENTIALS": str(creds_path)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hyperhome",
        "up",
        "--broker",
        broker_kind,
        "--api-port",
        "0",  # any free port: 8000 may be taken on a shared machine
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    seen = []
    try:
        async with asyncio.timeout(30):
            while True:
                line = (await proc.stdout.readline()).decode()
                if not line:
                    err = (await proc.stderr.read()).decode() if proc.stderr else ""
                    pytest.fail(f"hyperhome up exited early:\n{''.join(seen)}\n{err}")
                seen.append(line)
                if "Ctrl-C to stop" in line:
                    break
        output = "".join(seen)
        assert str(creds_path) in output
        assert oct(creds_path.stat().st_mode & 0o777) == "0o600"
        creds = HomeCredentials.load(creds_path)
        assert f"{creds.host}:{creds.port}" in output
        os.environ["HYPERHOME_CREDENTIALS"] = str(creds_path)
        yield creds
    finally:
        os.environ.pop("HYPERHOME_CREDENTIALS", None)
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
            async with asyncio.timeout(15):
                await proc.wait()
    assert proc.returncode == 0
    err = (await proc.stderr.read()).decode() if proc.stderr else ""
    assert "Traceback" not in err, err
    assert "not broadcasted" not in err, err


async def test_up_is_driven_by_mosquitto_clients(running_up: HomeCredentials) -> None:
    sub, pub = _need("mosquitto_sub"), _need("mosquitto_pub")
    creds = running_up
    login = ["-h", creds.host, "-p", str(creds.port), "-u", creds.controller.username, "-P", creds.controller.password]
    base = f"{creds.root}/{creds.home}"
    # the retained state of the AC, as any client sees it
    code, out, err = await _run(sub, *login, "-t", f"{base}/living-ac/state", "-C", "1", "-W", "10")
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
    code, _, err = await _run(
        pub,
        *login,
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
    code, _, _ = await _run(
        pub,
        "-h",
        creds.host,
        "-p",
        str(creds.port),
        "-u",
        phone.username,
        "-P",
        phone.password,
        "-t",
        f"{creds.root}/{creds.home}/living-ac/cmd/set",
        "-q",
        "1",
        "-m",
        '{"power": true}',
    )
    # MQTT 3.1.1 cannot refuse a publish: it is dropped. The AC's state is what tells.
    code, out, err = await _run(sys.executable, "-m", "hyperhome", "devices", "--json")
    assert code == 0, err
    devices = {d["id"]: d for d in json.loads(out)}
    assert devices["living-ac"]["state"]["power"] is False
    assert devices["living-ac"]["availability"] == "online"
    assert devices["phone"]["meta"]["owner"] == "alice"


async def test_cli_send_prints_the_reply_and_exits_1_on_error(running_up: HomeCredentials) -> None:
    code, out, err = await _run(sys.executable, "-m", "hyperhome", "send", "living-ac", "set", '{"target_c": 24}')
    assert code == 0, err
    assert json.loads(out)["ok"] is True
    code, out, err = await _run(sys.executable, "-m", "hyperhome", "send", "living-ac", "set", '{"target_c": 99}')
    assert code == 1
    assert json.loads(out)["error"]["code"] == "invalid_args"
    code, out, err = await _run(sys.executable, "-m", "hyperhome", "send", "living-ac", "set", "not json")
    assert code == 2
    assert "not JSON" in err

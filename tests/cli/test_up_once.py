"""A failed ``hyperhome up`` changes nothing: one ``up`` per credentials file, every port bound
before the credentials file is written, and a crashed ``up`` leaves nothing stuck."""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import hyperhome_up, one_error, run_hyperhome


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port on 127.0.0.1 that something else listens on."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


async def test_a_second_up_on_the_same_credentials_file_refuses_naming_the_first(
    broker_kind: str, tmp_path: Path
) -> None:
    creds = tmp_path / "credentials.json"
    async with hyperhome_up("--broker", broker_kind, "--api-port", "0", "--credentials", str(creds)) as first:
        written = creds.read_bytes()
        refusal = (
            f"hyperhome up (pid {first.proc.pid}) is already running with the credentials file {creds}: "
            "stop it first, or give this one another --credentials FILE"
        )
        started = time.monotonic()
        one_error(await run_hyperhome("up", "--broker", broker_kind, "--credentials", str(creds)), refusal)
        one_error(await run_hyperhome("broker", "--credentials", str(creds)), refusal)
        assert time.monotonic() - started < 10  # at once: no broker, no devices started
        assert creds.read_bytes() == written
        code, _, err = await run_hyperhome("devices", "--credentials", str(creds))
        assert code == 0, err  # the running home is still reachable through the file
    assert first.proc.returncode == 0


@pytest.mark.parametrize("option", ["--api-port", "--port"])
async def test_a_start_that_fails_on_a_taken_port_leaves_the_credentials_file_as_it_was(
    broker_kind: str, tmp_path: Path, taken_port: int, option: str
) -> None:
    creds = tmp_path / "credentials.json"
    async with hyperhome_up("--broker", broker_kind, "--api-port", "0", "--credentials", str(creds)):
        pass
    written = creds.read_bytes()
    others = ["--api-port", "0"] if option == "--port" else []
    code, out, err = await run_hyperhome(
        "up", "--broker", broker_kind, option, str(taken_port), *others, "--credentials", str(creds)
    )
    assert creds.read_bytes() == written
    expected = {
        ("--api-port", "embedded"): f"port {taken_port} on 127.0.0.1 is in use: choose another with --api-port N",
        ("--api-port", "mosquitto"): f"port {taken_port} on 127.0.0.1 is in use: choose another with --api-port N",
        ("--port", "embedded"): f"embedded broker could not start on 127.0.0.1:{taken_port}:",
        ("--port", "mosquitto"): f"mosquitto cannot listen on 127.0.0.1:{taken_port}: Address already in use",
    }[option, broker_kind]
    assert (code, "Traceback" in out + err) == (2, False), out + err
    assert err.startswith(f"error: {expected}"), err
    assert err.count("\n") == 1, err


async def test_an_up_that_was_killed_leaves_no_lock_behind(broker_kind: str, tmp_path: Path) -> None:
    creds = tmp_path / "credentials.json"
    async with hyperhome_up("--broker", broker_kind, "--api-port", "0", "--credentials", str(creds)) as crashed:
        crashed.proc.send_signal(signal.SIGKILL)
        await crashed.proc.wait()
    assert (tmp_path / "credentials.json.lock").read_text().split() == [str(crashed.proc.pid), "up"]
    async with hyperhome_up("--broker", broker_kind, "--api-port", "0", "--credentials", str(creds)) as second:
        code, _, err = await run_hyperhome("devices", "--credentials", str(creds))
        assert code == 0, err
    assert second.proc.returncode == 0

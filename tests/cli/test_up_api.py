"""``hyperhome up`` and its web API: the port option, a port that is taken, and ``--no-api``."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.processes import hyperhome_up, run_hyperhome


async def test_a_taken_api_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out, err = await run_hyperhome(
            "up", "--credentials", str(tmp_path / "credentials.json"), "--api-port", str(port)
        )
    assert code == 2, out + err
    message = " ".join(err.split())
    assert f"port {port} on 127.0.0.1 is in use" in message
    assert "--api-port" in message


async def test_no_api_serves_nothing(tmp_path: Path) -> None:
    async with hyperhome_up("--credentials", str(tmp_path / "credentials.json"), "--no-api") as up:
        pass
    assert up.proc.returncode == 0
    assert "dashboard" not in up.output

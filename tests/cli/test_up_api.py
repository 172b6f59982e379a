"""``hyperhome up`` and its web API: the port option, a port that is taken, and ``--no-api``."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path


async def _up(*options: str, tmp_path: Path) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hyperhome",
        "up",
        "--credentials",
        str(tmp_path / "credentials.json"),
        *options,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )


async def test_a_taken_api_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = await _up("--api-port", str(port), tmp_path=tmp_path)
        async with asyncio.timeout(60):
            out, err = await proc.communicate()
    assert proc.returncode == 2, out.decode() + err.decode()
    message = " ".join(err.decode().split())
    assert f"port {port} on 127.0.0.1 is in use" in message
    assert "--api-port" in message


async def test_no_api_serves_nothing(tmp_path: Path) -> None:
    proc = await _up("--no-api", tmp_path=tmp_path)
    assert proc.stdout is not None
    seen = []
    try:
        async with asyncio.timeout(30):
            while not seen or "Ctrl-C to stop" not in seen[-1]:
                line = (await proc.stdout.readline()).decode()
                assert line, "".join(seen)
                seen.append(line)
    finally:
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(20):
            await proc.wait()
    assert proc.returncode == 0
    assert "dashboard" not in "".join(seen)

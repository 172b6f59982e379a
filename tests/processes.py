"""The ``hyperhome`` command line as a user runs it: a real child process of this Python."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest

ENV = {"PYTHONUNBUFFERED": "1", "COLUMNS": "200", "NO_COLOR": "1"}


async def run(*argv: str, timeout_s: float = 30.0) -> tuple[int, str, str]:
    """Run any program to its end: exit code, stdout, stderr."""
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    async with asyncio.timeout(timeout_s):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def one_error(result: tuple[int, str, str], line: str, code: int = 2) -> str:
    """Assert that a run printed exactly ``error: LINE`` on stderr, no traceback, and exited
    ``code``; returns its stdout."""
    exit_code, out, err = result
    assert "Traceback" not in out + err, err
    assert err == f"error: {line}\n", err
    assert exit_code == code, out + err
    return out


async def run_hyperhome(*argv: str, timeout_s: float = 90.0) -> tuple[int, str, str]:
    """``python -m hyperhome ARGV`` to its end (wide, uncoloured output): exit code, stdout, stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hyperhome",
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **ENV},
    )
    async with asyncio.timeout(timeout_s):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@dataclass
class Up:
    """A running ``hyperhome up``: what it printed until "Ctrl-C to stop"; ``stderr`` once it stopped."""

    proc: asyncio.subprocess.Process
    output: str = ""
    stderr: str = ""


@asynccontextmanager
async def hyperhome_up(*options: str, env: dict[str, str] | None = None) -> AsyncIterator[Up]:
    """``python -m hyperhome up OPTIONS`` until it says it is up; stopped with Ctrl-C (SIGINT) on exit."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hyperhome",
        "up",
        *options,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **ENV, **(env or {})},
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    up = Up(proc)
    seen: list[str] = []
    try:
        async with asyncio.timeout(30):
            while not seen or "Ctrl-C to stop" not in seen[-1]:
                line = (await proc.stdout.readline()).decode()
                if not line:
                    pytest.fail(f"hyperhome up exited early:\n{''.join(seen)}\n{(await proc.stderr.read()).decode()}")
                seen.append(line)
        up.output = "".join(seen)
        yield up
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
            async with asyncio.timeout(20):
                await proc.wait()
        up.stderr = (await proc.stderr.read()).decode()

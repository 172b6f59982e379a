"""examples/precool_service/check.sh, the language-agnostic check, run as a user runs it:
``hyperhome up --clock manual``, mosquitto_pub, curl, ``hyperhome clock advance``, jq."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "precool_service" / "check.sh"
TOOLS = ("bash", "mosquitto", "mosquitto_pub", "curl", "jq")


def needs_tools() -> None:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists()]
    if missing:
        reason = f"check.sh needs {', '.join(missing)} (apt-get install mosquitto mosquitto-clients curl jq)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs them: {reason}")
        pytest.skip(reason)


async def run_script(tmp_path: Path, **env: str) -> tuple[int, str]:
    needs_tools()
    bin_dir = str(Path(sys.executable).parent)  # hyperhome and a python3 with paho-mqtt
    proc = await asyncio.create_subprocess_exec(
        "bash", str(SCRIPT),
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "TMPDIR": str(tmp_path), **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    async with asyncio.timeout(120):
        out, _ = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_the_shell_check_passes_with_the_service(tmp_path: Path) -> None:
    code, out = await run_script(tmp_path)
    assert code == 0, out
    assert "OK: the car is home and the living room is at 24" in out, out


async def test_the_shell_check_fails_with_a_broken_service(tmp_path: Path) -> None:
    broken = tmp_path / "precool.py"
    source = (SCRIPT.parent / "precool.py").read_text()
    broken.write_text(source.replace("ETA_UNDER_MIN = 15.0", "ETA_UNDER_MIN = 5.0"))
    code, out = await run_script(tmp_path, PRECOOL_SERVICE=str(broken))
    assert code == 1, out
    assert "FAIL: the living room is not cooled to 24 °C on arrival" in out, out

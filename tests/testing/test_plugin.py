"""The pytest plugin as a user meets it: installed from a wheel, no conftest, loaded by its
entry point; and the example's tests failing, clearly, on a broken copy of the service."""

from __future__ import annotations

import os
import sys
import sysconfig
from pathlib import Path

from tests.processes import run

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "precool_service"

USER_TEST = """
import pytest

import hyperhome


@pytest.mark.asyncio
async def test_a_home_from_the_fixture(hyperhome):
    home = await hyperhome(home="demo", clock="manual")
    assert home.login("integration").username == "demo.$integration"
    before = home.now
    await home.send("living-ac", "set", {"power": True, "mode": "cool", "target_c": 24})
    await home.advance("10m")
    assert home.now - before == 600
    assert home.state("living-ac")["room_temp_c"] < 31
    assert [m.json()["args"]["target_c"] for m in home.messages("living-ac/cmd/set")] == [24]


def test_the_package_is_the_installed_one():
    print("HYPERHOME_AT", hyperhome.__file__)
"""


async def test_a_fresh_install_runs_a_test_that_uses_the_fixture_without_a_conftest(tmp_path: Path) -> None:
    """The wheel is built and installed into a new venv; its dependencies come from the current
    venv's site-packages (a .pth line: no download of them, and .pth files there are not run, so
    the editable install of this checkout is not on the path)."""
    wheels = tmp_path / "wheels"
    code, out, err = await run(
        sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(REPO), timeout_s=300
    )
    assert code == 0, out + err
    (wheel,) = wheels.glob("hyperhome-*.whl")
    venv = tmp_path / "venv"
    code, out, err = await run(sys.executable, "-m", "venv", "--without-pip", str(venv))
    assert code == 0, out + err
    python = venv / "bin" / "python"
    code, site, err = await run(str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    fresh_site = Path(site.strip())
    code, out, err = await run(
        sys.executable,
        "-m",
        "pip",
        "install",
        "-q",
        "--no-deps",
        "--target",
        str(fresh_site),
        str(wheel),
        timeout_s=300,
    )
    assert code == 0, out + err
    (fresh_site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_home.py").write_text(USER_TEST)
    proc_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS")}
    code, out, err = await _run_in(project, proc_env, str(python), "-m", "pytest", "-s", "-p", "no:cacheprovider")
    assert code == 0, out + err
    assert "2 passed" in out, out
    assert f"HYPERHOME_AT {fresh_site}" in out, out  # the wheel's copy, not this checkout's


async def test_a_broken_copy_of_the_service_fails_its_test_with_a_clear_message(tmp_path: Path) -> None:
    broken = tmp_path / "precool.py"
    source = (EXAMPLE / "precool.py").read_text()
    assert "ETA_UNDER_MIN = 15.0" in source
    broken.write_text(source.replace("ETA_UNDER_MIN = 15.0", "ETA_UNDER_MIN = 5.0"))
    env = {**os.environ, "PRECOOL_SERVICE": str(broken)}
    code, out, err = await _run_in(
        REPO, env, sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--hyperhome-broker", "embedded",
        str(EXAMPLE / "test_precool.py"), "-k", "arrives",
    )  # fmt: skip
    assert code == 1, out + err
    assert (
        "the service switched the AC on at 2026-07-01T17:36:00.000Z; expected at 2026-07-01T17:26:00.000Z, "
        "when the car first reported an ETA under 15 minutes"
    ) in out, out
    assert "1 failed" in out, out


async def _run_in(cwd: Path, env: dict[str, str], *argv: str) -> tuple[int, str, str]:
    import asyncio

    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    async with asyncio.timeout(240):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()

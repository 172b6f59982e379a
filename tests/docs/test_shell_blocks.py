"""Every shell block of README.md and docs/ runs as written after ``hyperhome up``.

A new user follows one page in one terminal: so each page's blocks run in order in one bash
(``set -euo pipefail``: an undefined variable or a failing command fails the page), in a fresh
home directory where a real ``hyperhome up`` (the demo home, embedded broker) wrote its
credentials file at the default path, with this venv's ``hyperhome`` first on ``PATH``. What a
block starts in the background is stopped when the page is done.

The one liberty taken: ``up`` here serves its web API on a free port, not on 8000 (another
program may hold 8000), and the blocks' ``:8000`` is read as that port.

A page that says "save this as ``my_story.yaml``" marks that block ```` ```yaml save-as=my_story.yaml ````:
the file is saved in the working directory before the page's shell blocks run.

A block that needs ``up`` started with options says so: ```` ```bash up-with=--faults ````; such
blocks run, in order, after an ``up`` of their own with those options.

A block that is not meant to run after ``up`` (installing, a second ``up``, a broker of yours,
benchmarks that take minutes) says so on its fence line: ```` ```bash no-run ````.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import sys
from pathlib import Path

import pytest

from tests.docs.markdown import PAGES, ROOT, Block, blocks
from tests.processes import hyperhome_up

SHELLS = ("bash", "sh", "shell")
TOOLS = ("mosquitto", "mosquitto_pub", "mosquitto_sub", "jq", "curl")


def _runnable(page: Path) -> list[Block]:
    return [b for b in blocks(page, *SHELLS) if "no-run" not in b.info.split()]


RUNNABLE = {page.relative_to(ROOT).as_posix(): _runnable(page) for page in PAGES}


def _tools() -> None:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        reason = f"the doc test needs {', '.join(missing)} (apt-get install mosquitto mosquitto-clients jq curl)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs them: {reason}")
        pytest.skip(reason)


def _script(page_blocks: list[Block], api_port: int) -> str:
    lines = ["set -euo pipefail"]
    for block in page_blocks:
        text = re.sub(r"(localhost|127\.0\.0\.1):8000\b", rf"\g<1>:{api_port}", block.text)
        # errexit does not stop a failing ``a && b`` list: its status, the block's last, is checked
        lines += [f"echo '::block {block.where}' >&2", text, "_rc=$?; [ $_rc -eq 0 ] || exit $_rc"]
    return "\n".join(lines) + "\n"


def test_the_no_run_blocks_are_the_ones_that_cannot_run_after_up() -> None:
    """Marking a block no-run is for what truly cannot run here, not a way round a broken one."""
    # runs of minutes (a fleet for --duration Nm or whole --days, like the benches) and other machines (kubectl, ray)
    allowed = re.compile(
        r"hyperhome up\b|pip install|apt-get|hyperhome bench|broker\.lan|^pytest$"
        r"|hyperhome fleet\b.*(--duration \d+m|--days)|^kubectl |^ray start",
        re.M,
    )
    for page in PAGES:
        for block in blocks(page, *SHELLS):
            if "no-run" in block.info.split():
                assert allowed.search(block.text), f"{block.where} is marked no-run but looks runnable"


@pytest.mark.parametrize("page", [name for name, found in RUNNABLE.items() if found])
@pytest.mark.mosquitto  # mosquitto_pub and mosquitto_sub
async def test_the_pages_shell_blocks_run_as_written(page: str, tmp_path: Path) -> None:
    _tools()
    home = tmp_path / "home"
    work = tmp_path / "work"
    work.mkdir(parents=True)
    home.mkdir()
    for block in blocks(ROOT / page):
        if block.save_as is not None:
            (work / block.save_as).write_text(block.text, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("HYPERHOME_CREDENTIALS", "XDG_STATE_HOME")}
    env |= {"HOME": str(home), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"}
    groups: dict[tuple[str, ...], list[Block]] = {}
    for block in RUNNABLE[page]:
        groups.setdefault(block.up_with, []).append(block)
    for index, (options, group) in enumerate(groups.items()):
        out_path, err_path = tmp_path / f"stdout-{index}", tmp_path / f"stderr-{index}"
        returncode = await _run_after_up(group, options, home, work, env, out_path, err_path)
        output, errors = out_path.read_text(errors="replace"), err_path.read_text(errors="replace")
        where = re.findall(r"::block (\S+)", errors)
        assert returncode == 0, f"{where[-1] if where else page} failed:\n{output}\n{errors}"
        assert "Traceback" not in output + errors


async def _run_after_up(
    group: list[Block], options: tuple[str, ...], home: Path, work: Path, env: dict[str, str], out: Path, err: Path
) -> int | None:
    """The blocks in one bash after a real ``hyperhome up OPTIONS``; bash's exit code."""
    async with hyperhome_up("--api-port", "0", *options, env={"HOME": str(home)}) as up:
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", up.output)
        assert match is not None, up.output
        with out.open("wb") as stdout, err.open("wb") as stderr:  # files: a background job keeps a pipe open
            proc = await asyncio.create_subprocess_exec(
                "bash",
                "-c",
                _script(group, int(match.group(1))),
                cwd=work,
                env=env,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,  # its background jobs are one process group, stopped below
            )
            try:
                async with asyncio.timeout(240):
                    await proc.wait()
            finally:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGTERM)
    return proc.returncode

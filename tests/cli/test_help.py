"""Help as a new user reads it, from the real ``hyperhome`` at 80 columns: a flag is written as a
flag (no ``<bool>`` that invites ``--quiet true``) and a usage line names its arguments plainly."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

COMMANDS = ["", "up", "broker", "devices", "send", "scenarios", "run", "bench"]
FLAGS = {
    "": ["--version", "--help"],
    "run": ["--quiet", "--update-golden", "--help"],
    "devices": ["--json", "--help"],
    "up": ["--no-api", "--help"],
}


def _help(command: str) -> str:
    env = {**os.environ, "COLUMNS": "80", "TERM": "dumb", "NO_COLOR": "1"}
    argv = [sys.executable, "-m", "hyperhome", *command.split(), "--help"]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_flags_show_as_flags_and_the_usage_line_is_plain(command: str) -> None:
    text = _help(command)
    assert "<bool>" not in text
    usage = next(line for line in text.splitlines() if "Usage:" in line)
    assert "{" not in usage, usage
    assert max(len(line) for line in text.splitlines()) <= 80
    for flag in FLAGS.get(command, ["--help"]):
        row = next(line for line in text.splitlines() if re.search(rf"{flag}\b", line))
        beside = row.split(flag, 1)[1].split()  # the short form, then the help: no placeholder
        assert not beside or not beside[0].startswith("<"), row


def test_the_usage_lines_read_as_written() -> None:
    assert "Usage: hyperhome run [OPTIONS] SCENARIO..." in _help("run")
    assert "Usage: hyperhome send [OPTIONS] DEVICE COMMAND [JSON]" in _help("send")
    assert "Usage: hyperhome bench [OPTIONS] NAME" in _help("bench")
    assert "Usage: hyperhome [OPTIONS] COMMAND [ARGS]..." in _help("")

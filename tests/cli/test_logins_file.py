"""``--logins FILE``: its mistakes are one ``error: FILE:LINE: field: message`` line, exit 2.

Every case fails before anything connects (the URL points nowhere), and no password is shown.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.processes import run_hyperhome

GOOD_DEVICES = "\n".join(
    f"  {d}: {{username: hh-{d}, password: pw-{d}}}"
    for d in ("living-ac", "bedroom-ac", "phone", "tablet", "laptop", "car", "door-camera", "door-lock", "speaker")
)


def _file(tmp_path: Path, text: str, name: str = "logins.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            """\
            orchestrator: {username: hh-o, password: secret-o}
            devices: {}
            """,
            "1: controller: Field required",
        ),
        (
            """\
            orchestrator: {username: hh-o, password: secret-o}
            controller: {username: hh-c, password: 123456}
            """,
            "2: controller.password: Input should be a valid string",
        ),
        (
            """\
            orchestrator: {username: hh-o, password: secret-o}
            controller: {username: hh-c, pasword: secret-c}
            """,
            "2: controller.password: Field required; {logins}:2: controller.pasword: Extra inputs are not permitted",
        ),
        (
            """\
            orchestrator: {username: hh-o, password: secret-o}
            controller: {username: "", password: secret-c}
            """,
            "2: controller.username: String should have at least 1 character",
        ),
        (
            """\
            orchestrator: {username: hh-o, password: secret-o}
            controller: {username: hh-c, password: secret-c}
            devices:
              Living-AC: {username: hh-ac, password: secret-ac}
            """,
            "3: devices: Value error, device id 'Living-AC' must match",
        ),
        (
            """\
            orchestrator: {username: hh-o, password: secret-o}
            controller: {username: hh-c, password: secret-c}
            devices:
              living-ac: {username: hh-ac, password: secret-ac}
            """,
            "3: devices: no login for devices 'phone', 'tablet', 'laptop', 'car', 'bedroom-ac', 'door-camera', "
            "'door-lock', 'speaker' of home 'demo'",
        ),
        ("orchestrator: {username: hh-o, password: secret-o\n", "2: not valid YAML"),
        ("", "1: (top level): the file is empty"),
    ],
)
async def test_a_mistake_in_the_logins_file_is_one_line(tmp_path: Path, text: str, problem: str) -> None:
    logins = _file(tmp_path, text)
    code, out, err = await run_hyperhome(
        "run", "living_room_cooldown", "--broker", "mqtt://127.0.0.1:9", "--logins", str(logins)
    )
    assert code == 2, out + err
    assert "Traceback" not in out + err
    assert err.startswith(f"error: {logins}:{problem.format(logins=logins)}"), err
    assert len(err.strip().splitlines()) == 1, err
    assert "secret" not in out + err


async def test_json_is_read_too_and_up_checks_the_file_before_it_starts(tmp_path: Path) -> None:
    logins = _file(
        tmp_path,
        '{\n  "orchestrator": {"username": "hh-o", "password": "secret-o"},\n'
        '  "controller": {"username": "hh-c", "password": "secret-c"},\n  "devices": {}\n}\n',
        "logins.json",
    )
    code, out, err = await run_hyperhome(
        "up", "--broker", "mqtt://127.0.0.1:9", "--logins", str(logins), "--api-port", "0", timeout_s=30
    )
    assert code == 2, out + err
    assert err.startswith(f"error: {logins}:4: devices: no login for devices 'phone', 'tablet', "), err
    assert "Traceback" not in out + err
    assert "secret" not in out + err


async def test_a_logins_file_that_is_not_there(tmp_path: Path) -> None:
    code, out, err = await run_hyperhome(
        "run", "living_room_cooldown", "--broker", "mqtt://127.0.0.1:9", "--logins", str(tmp_path / "nope.yaml")
    )
    assert code == 2, out + err
    assert err.strip() == f"error: cannot read {tmp_path / 'nope.yaml'}: No such file or directory"


async def test_a_good_logins_file_gets_as_far_as_connecting(tmp_path: Path) -> None:
    logins = _file(
        tmp_path,
        "orchestrator: {username: hh-o, password: secret-o}\n"
        "controller: {username: hh-c, password: secret-c}\n"
        f"devices:\n{GOOD_DEVICES}\n",
    )
    code, out, err = await run_hyperhome(
        "run", "living_room_cooldown", "--broker", "mqtt://127.0.0.1:9", "--logins", str(logins), "-q", timeout_s=30
    )
    assert code == 2, out + err
    assert err.strip().startswith("error: could not connect to 127.0.0.1:9 as hh-o: "), err
    assert "Traceback" not in out + err

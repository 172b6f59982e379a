"""Mistakes a user makes, as the real ``hyperhome`` prints them: one ``error:`` line naming the
file, line and field where there is a file, the exit code, and never a Python traceback."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hyperhome.home.homefile import shipped_homes
from tests.processes import Up, hyperhome_up, one_error, run_hyperhome

HOME = """\
home: my-home
name: My flat
residents: [alice]
devices:
  - id: living-ac
    kind: air_conditioner
    name: Living room AC
    room: living
    state: {room_temp_c: 30, target_c: 35}
    config: {cooling_capacity_w: 2600}
  - {id: phone, kind: phone, owner: alice}
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def shipped() -> str:
    return ", ".join(sorted(shipped_homes()))


# -- home files -----------------------------------------------------------------------------------
async def test_a_home_file_that_is_not_yaml(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.yaml", "home: x\ndevices:\n  - {id: phone, kind: phone\n")
    result = await run_hyperhome("up", "--home", str(bad), "--credentials", str(tmp_path / "c.json"))
    one_error(result, f"{bad}:4: not valid YAML: expected ',' or '}}', but got '<stream end>'")


async def test_a_home_file_that_does_not_exist() -> None:
    result = await run_hyperhome("up", "--home", "/nonexistent.yaml")
    one_error(result, f"no home file /nonexistent.yaml (shipped homes: {shipped()})")


async def test_an_empty_home_file(tmp_path: Path) -> None:
    empty = write(tmp_path, "empty.yaml", "")
    result = await run_hyperhome("up", "--home", str(empty), "--credentials", str(tmp_path / "c.json"))
    one_error(result, f"{empty}:1: (top level): the file is empty; it needs at least home and devices")


async def test_a_home_file_naming_a_rules_file_that_does_not_exist(tmp_path: Path) -> None:
    home = write(tmp_path, "home.yaml", HOME.replace("35", "24") + "automations: rules/mine.yaml\n")
    result = await run_hyperhome("up", "--home", str(home), "--credentials", str(tmp_path / "c.json"))
    one_error(result, f"{home}:12: automations: no rules file {tmp_path / 'rules' / 'mine.yaml'}")


async def test_broker_with_a_home_file_that_does_not_exist(tmp_path: Path) -> None:
    result = await run_hyperhome("broker", "--home", "missing.yaml", "--credentials", str(tmp_path / "c.json"))
    one_error(result, f"no home file missing.yaml (shipped homes: {shipped()})")


async def test_devices_before_any_up(tmp_path: Path) -> None:
    creds = tmp_path / "credentials.json"
    result = await run_hyperhome("devices", "--credentials", str(creds))
    one_error(result, f"credentials file {creds} does not exist (is `hyperhome up` running?)")


async def test_a_device_state_mistake_is_reported_at_its_line_and_field(tmp_path: Path) -> None:
    home = write(tmp_path, "my-home.yaml", HOME)
    result = await run_hyperhome("up", "--home", str(home), "--credentials", str(tmp_path / "c.json"))
    one_error(
        result,
        f"{home}:9: devices.0.state: device 'living-ac' (air_conditioner): "
        "target_c: Input should be less than or equal to 30",
    )


async def test_a_device_config_mistake_is_reported_at_its_line_and_field(tmp_path: Path) -> None:
    home = write(tmp_path, "my-home.yaml", HOME.replace("35", "24").replace("2600", "-1"))
    result = await run_hyperhome("broker", "--home", str(home), "--credentials", str(tmp_path / "c.json"))
    one_error(
        result,
        f"{home}:10: devices.0.config: device 'living-ac' (air_conditioner): "
        "cooling_capacity_w: Input should be greater than 0",
    )


# -- scenarios and their inline homes --------------------------------------------------------------
def story(home: str, steps: str = "  - sleep: 1s\n") -> str:
    inline = "".join(f"  {line}\n" for line in home.splitlines())
    return f"title: T\narticle: A\nhome:\n{inline}steps:\n{steps}"


async def test_an_inline_home_s_device_mistake_is_reported_at_its_line_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, "story.yaml", story(HOME))
    result = await run_hyperhome("run", str(path))
    one_error(
        result,
        f"{path}:12: home.devices.0.state: device 'living-ac' (air_conditioner): "
        "target_c: Input should be less than or equal to 30",
    )


async def test_an_inline_home_s_grammar_is_read_next_to_the_scenario(tmp_path: Path) -> None:
    """Like its rules file: relative to the scenario file, not to where hyperhome runs."""
    assert Path.cwd() != tmp_path
    home = HOME.replace("35", "24") + "voice: {grammar: [words.yaml]}\n"
    path = write(tmp_path, "story.yaml", story(home))
    result = await run_hyperhome("run", str(path))
    one_error(result, f"{path}:15: home.voice.grammar.0: no grammar file {tmp_path / 'words.yaml'}")
    write(tmp_path, "words.yaml", "intents: {}\n")
    code, out, err = await run_hyperhome("run", str(path), "--quiet")
    assert (code, "Traceback" in err) == (0, False), out + err


async def test_a_scenario_step_naming_a_device_the_home_lacks(tmp_path: Path) -> None:
    steps = "  - send: {device: living-ac, command: set, args: {power: true}}\n"
    steps += "  - title: the kitchen\n    send: {device: kitchen-ac, command: set, args: {power: true}}\n"
    path = write(tmp_path, "story.yaml", story(HOME.replace("35", "24"), steps))
    started = time.monotonic()
    result = await run_hyperhome("run", str(path))
    one_error(
        result,
        f"{path}:18: steps.1.send.device: home 'my-home' has no device 'kitchen-ac' (its devices: living-ac, phone)",
    )
    assert time.monotonic() - started < 8  # refused before any home came up


# -- a running home --------------------------------------------------------------------------------
@pytest.fixture
async def home_up(broker_kind: str, tmp_path: Path) -> AsyncIterator[tuple[Up, Path]]:
    creds = tmp_path / "credentials.json"
    async with hyperhome_up("--broker", broker_kind, "--api-port", "0", "--credentials", str(creds)) as up:
        yield up, creds


async def test_send_to_a_device_the_home_does_not_have(home_up: tuple[Up, Path]) -> None:
    _, creds = home_up
    started = time.monotonic()
    result = await run_hyperhome("send", "kitchen-ac", "set", '{"power": true}', "--credentials", str(creds))
    devices = "bedroom-ac, car, door-camera, door-lock, laptop, living-ac, phone, speaker, tablet"
    one_error(result, f"home 'demo' has no device 'kitchen-ac' (its devices: {devices})")
    assert time.monotonic() - started < 8  # not the 10 s reply timeout


async def test_a_refused_intent_says_why_and_exits_1(home_up: tuple[Up, Path]) -> None:
    _, creds = home_up
    tap = '{"intent": "precool", "args": {"target_c": 99}}'
    result = await run_hyperhome("send", "phone", "tap", tap, "--credentials", str(creds))
    out = one_error(result, "intent 'precool' refused: target_c: Input should be less than or equal to 30", code=1)
    assert '"ok": true' in out  # the phone did tap: the orchestrator refused


async def test_an_intent_that_starts_a_flow_says_which(home_up: tuple[Up, Path]) -> None:
    _, creds = home_up
    tap = '{"intent": "precool", "args": {"target_c": 24, "start_now": true}}'
    code, out, err = await run_hyperhome("send", "phone", "tap", tap, "--credentials", str(creds))
    assert (code, err) == (0, ""), out + err
    assert re.fullmatch(r"intent 'precool' started flow f-\d+", out.splitlines()[-1]), out


async def test_devices_after_up_stopped_asks_whether_it_runs(broker_kind: str, tmp_path: Path) -> None:
    creds = tmp_path / "credentials.json"
    async with hyperhome_up("--broker", broker_kind, "--api-port", "0", "--credentials", str(creds)) as up:
        code, _, err = await run_hyperhome("devices", "--credentials", str(creds))
        assert code == 0, err
    assert up.proc.returncode == 0
    result = await run_hyperhome("devices", "--credentials", str(creds))
    port = re.search(r'"port": (\d+)', creds.read_text(encoding="utf-8"))
    assert port is not None
    one_error(
        result,
        f"could not connect to 127.0.0.1:{port.group(1)} as demo.$controller-1: [Errno 111] Connection refused "
        f"(is `hyperhome up` running? {creds} names this broker)",
    )


async def test_ctrl_c_while_devices_waits_says_what_it_waited_for(tmp_path: Path) -> None:
    """A broker that takes the connection and never answers: Ctrl-C ends ``devices`` with a line
    that says what it was waiting for and what to check, exit 130, no traceback."""
    import asyncio
    import os
    import signal
    import sys

    from hyperhome.broker.credentials import HomeCredentials

    connected = asyncio.Event()
    held: list[asyncio.StreamWriter] = []

    async def swallow(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        connected.set()

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    creds_path = tmp_path / "credentials.json"
    HomeCredentials.generate("demo", ["living-ac"], port=port).save(creds_path)
    async with server:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hyperhome", "devices", "--credentials", str(creds_path),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
        )  # fmt: skip
        async with asyncio.timeout(30):
            await connected.wait()
            proc.send_signal(signal.SIGINT)
            out, err = await proc.communicate()
        for writer in held:
            writer.close()
    text = err.decode()
    assert proc.returncode == 130, out.decode() + text
    assert "Traceback" not in text
    assert text.startswith(f"interrupted: stopped while waiting for the home 'demo' on 127.0.0.1:{port}")
    assert "check that `hyperhome up` is running" in text
    assert str(creds_path) in text.replace("\n", "")


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ("[" * 5000 + "]" * 5000, "payload is nested deeper than 32 levels"),
        ('{"target_c": NaN}', "payload is not JSON: NaN is not a JSON number"),
        ("not json", "payload is not JSON: Expecting value: line 1 column 1 (char 0)"),
    ],
)
async def test_send_with_args_a_device_would_not_read(tmp_path: Path, args: str, reason: str) -> None:
    result = await run_hyperhome("send", "living-ac", "set", args, "--credentials", str(tmp_path / "none.json"))
    one_error(result, f"args are not JSON a device reads: {reason}")

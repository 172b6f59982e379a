"""Scenario files: durations, constraints, and errors that name the file, line and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hyperhome import cli
from hyperhome.broker.faults import BrokerFault, LinkFault
from hyperhome.durations import parse_duration
from hyperhome.errors import ConfigError
from hyperhome.home import runtime
from hyperhome.scenarios.runner import compare_golden, holds
from hyperhome.scenarios.scenario import (
    Check,
    json_schema,
    load_scenario,
    schema_path,
    shipped_scenarios,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        *[("40m", 2400), ("90s", 90), ("1h30m", 5400), ("2.5s", 2.5), ("1h", 3600), ("1h 2m 3s", 3723), (12, 12.0)],
        *[("300ms", 0.3), ("1s500ms", 1.5), ("2m30s", 150)],
    ],
)
def test_durations(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "40", "m", "5 minutes", "-3s", "1m1h", "ms", "300 msec", -1, True])
def test_not_durations(text: str | float) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("check", "value", "ok"),
    [
        (24, 24.0, True),
        ("cool", "heat", False),
        ({"approx": 24, "tolerance": 0.5}, 24.4, True),
        ({"approx": 24, "tolerance": 0.5}, 24.6, False),
        ({"min": 1, "max": 2}, 2, True),
        ({"min": 1, "max": 2}, 2.01, False),
        ({"max": 2}, "x", False),
        ({"one_of": ["a", "b"]}, "b", True),
        ({"equals": None}, None, True),
        (None, 0, False),
        ([1, 2], [1, 2], True),
        ({"equals": 3, "min": 4}, 3, False),
    ],
)
def test_checks(check: object, value: object, ok: bool) -> None:
    assert holds(Check.model_validate(check), value) is ok


def test_schema_file_is_in_sync() -> None:
    """Regenerate with `python -m hyperhome.scenarios.scenario` after changing the models."""
    assert schema_path().read_text(encoding="utf-8") == json_schema()
    schema = json.loads(json_schema())
    assert {"title", "article", "home", "clock", "steps"} <= set(schema["properties"])


def test_a_scenario_with_a_fault_step_runs_its_home_with_faults(tmp_path: Path) -> None:
    path = tmp_path / "story.yaml"
    path.write_text(GOOD_HEAD + "steps:\n  - fault: {device: phone, latency: 300ms}\n  - sleep: 1s\n", "utf-8")
    scenario, _ = load_scenario(path)
    assert scenario.uses_faults
    fault = scenario.steps[0].fault
    assert isinstance(fault, LinkFault)
    assert (fault.action, fault.latency) == ("latency", 0.3)
    assert not load_scenario("rear_camera_handoff")[0].uses_faults


def test_a_broker_restart_step_is_a_fault_without_a_proxy(tmp_path: Path) -> None:
    path = tmp_path / "story.yaml"
    path.write_text(
        GOOD_HEAD + "steps:\n  - fault: {broker: restart, after: 5s}\n  - fault: {broker: restart}\n", "utf-8"
    )
    scenario, _ = load_scenario(path)
    assert scenario.restarts_broker
    assert not scenario.uses_faults  # no device link is set: no proxies
    later, now = (step.fault for step in scenario.steps)
    assert isinstance(later, BrokerFault)
    assert isinstance(now, BrokerFault)
    assert (later.action, later.after, now.after) == ("restart", 5.0, 0.0)


def test_a_broker_restart_on_a_broker_by_url_is_refused_naming_the_step() -> None:
    result = CliRunner().invoke(
        cli.app, ["run", "precool_through_broker_restart", "--broker", "mqtt://u:p@127.0.0.1:1"]
    )
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "precool_through_broker_restart.yaml:17: steps.4.fault.broker: a broker restart needs a broker" in lines[0]
    assert "mqtt://u@127.0.0.1:1" in lines[0]
    assert "Traceback" not in result.output


def test_every_shipped_scenario_is_valid() -> None:
    shipped = shipped_scenarios()
    assert {"living_room_cooldown", "door_lock_pin_lockout", "rear_camera_handoff"} <= set(shipped)
    for path in shipped.values():
        scenario, _ = load_scenario(path)
        assert scenario.title
        assert scenario.article


GOOD_HEAD = "title: T\narticle: A\nhome: demo\n"

BAD = [
    ("title: T\nhome: demo\nsteps:\n  - sleep: 1s\n", 1, "article: Field required"),
    (GOOD_HEAD + "steps:\n  - sleep: 1s\n  - sleep: forty\n", 6, "steps.1.sleep: Value error, not a duration"),
    (GOOD_HEAD + "steps:\n  - sleep: 1s\n    expect: {device: a, event: b}\n", 5, "exactly one of"),
    (GOOD_HEAD + "steps:\n  - send: {device: living-ac}\n", 5, "steps.0.send.command: Field required"),
    (GOOD_HEAD + "steps:\n  - send:\n      device: x\n      command: y\n      colour: red\n", 8, "steps.0.send.colour"),
    (GOOD_HEAD + "steps:\n  - wait_for: {device: x, event: y}\n", 5, "steps.0.wait_for.timeout: Field required"),
    (GOOD_HEAD + "steps:\n  - expect: {device: x, flow: y, event: z}\n", 5, "exactly one of device and flow"),
    (
        GOOD_HEAD + "steps:\n  - sleep: 1s\n  - send: {device: '${lease}', command: x}\n",
        6,
        "steps.1: uses ${lease} before",
    ),
    (GOOD_HEAD + "clock: {start: yesterday}\nsteps:\n  - sleep: 1s\n", 4, "not an ISO 8601 time"),
    (
        "title: T\narticle: A\nhome:\n  home: inline\n  devices:\n    - {id: ac, kind: toaster}\n"
        "steps:\n  - sleep: 1s\n",
        6,
        "home.devices.0.kind: unknown device kind 'toaster'",
    ),
    (GOOD_HEAD + "steps: []\n", 4, "steps: List should have at least 1 item"),
    (GOOD_HEAD + "steps:\n  - fault: {broker: reboot}\n", 5, "steps.0.fault.broker: Input should be 'restart'"),
    (GOOD_HEAD + "steps:\n  - fault: {broker: restart, after: soon}\n", 5, "steps.0.fault.after: Value error"),
    (GOOD_HEAD + "steps:\n  - fault: {broker: restart, device: phone}\n", 5, "steps.0.fault.device: Extra inputs"),
    (GOOD_HEAD + "steps:\n  - fault: {device: phone}\n", 5, "steps.0.fault: Value error, give exactly one of latency"),
    (GOOD_HEAD + "steps:\n  - fault: {device: phone, latency: 1s, drop: true}\n", 5, "exactly one of"),
    (GOOD_HEAD + "steps:\n  - fault: {device: phone, latency: soon}\n", 5, "steps.0.fault.latency: Value error"),
    (GOOD_HEAD + "steps:\n  - fault: {device: phone, partition: 0s}\n", 5, "steps.0.fault.partition: Input should"),
    (
        GOOD_HEAD + "steps:\n  - fault: {device: kitchen-ac, stall: true}\n",
        5,
        "steps.0.fault.device: home 'demo' has no device 'kitchen-ac'",
    ),
    (GOOD_HEAD + "steps:\n  - send: {device: a, command: [b\n", 6, "not valid YAML"),
]


@pytest.mark.parametrize(("text", "line", "message"), BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_files_name_file_line_and_field(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = tmp_path / "story.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_scenario(path)
    problems = str(caught.value)
    assert f"{path}:{line}: " in problems, problems
    assert message in problems


def test_golden_diff_names_the_first_differing_entry() -> None:
    a = {"t": 0.0, "device": "x", "kind": "event", "name": "e", "data": {"n": 1}}
    b = {**a, "data": {"n": 2}}
    assert compare_golden([a], [a]) is None
    assert compare_golden([a, a], [a, b]).startswith("entry 1: expected")  # type: ignore[union-attr]
    assert "seen has more" in compare_golden([a, b], [a])  # type: ignore[operator]


def test_a_bad_file_never_starts_a_broker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[object] = []

    async def refuse(self: runtime.Home) -> runtime.Home:
        started.append(self)
        raise AssertionError("a home was started")  # noqa: EM101

    monkeypatch.setattr(runtime.Home, "__aenter__", refuse)
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD_HEAD + "steps:\n  - sleep: soon\n", encoding="utf-8")
    outcome = CliRunner().invoke(cli.app, ["run", "door_lock_pin_lockout", str(bad)])
    assert outcome.exit_code == 2
    assert f"{bad}:5: steps.0.sleep: Value error, not a duration" in outcome.output
    assert started == []

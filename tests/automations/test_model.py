"""Rules as data: what a rule may say, and how a mistake is reported (field, file, line)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from hyperhome.errors import ConfigError
from hyperhome.home.homefile import load_home, rules_of
from hyperhome.orchestrator.automations.model import Rule, parse_duration
from hyperhome.scenarios.scenario import home_plan, load_scenario

CONTEXT = {"devices": {"phone", "living-ac", "door-lock"}, "flows": {"precool"}}


def rule(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "r1",
        "trigger": [{"trigger": "event", "device": "phone", "event": "arrived_home"}],
        "action": [{"command": {"device": "door-lock", "name": "unlock"}}],
    }
    return {**base, **overrides}


def errors_of(data: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as info:
        Rule.model_validate(data, context=CONTEXT)
    return [(".".join(map(str, e["loc"])), e["msg"]) for e in info.value.errors()]


def test_home_assistant_shorthands_are_accepted() -> None:
    parsed = Rule.model_validate(
        {
            "id": "r1",
            "trigger": {"platform": "state", "device": "phone", "attribute": "location", "from": "home"},
            "condition": {"condition": "nobody_home"},
            "action": {"delay": "00:01:30"},
        },
        context=CONTEXT,
    )
    assert parsed.trigger[0].trigger == "state"
    assert parsed.condition[0].condition == "nobody_home"
    assert parsed.action[0].delay == 90
    assert parsed.mode == "single"


def test_unknown_devices_and_flows_are_named_at_their_field() -> None:
    data = rule(
        condition=[{"condition": "state", "device": "lamp", "attribute": "power", "state": True}],
        action=[{"flow": {"kind": "teleport"}}, {"notify": {"device": "pager", "title": "x"}}],
    )
    problems = dict(errors_of(data))
    assert "this home has no device 'lamp'" in problems["condition.0.state condition.device"]
    assert "this home has no flow kind 'teleport'" in problems["action.0.flow.kind"]
    assert "this home has no device 'pager'" in problems["action.1.notify.device"]


@pytest.mark.parametrize(
    ("overrides", "where", "message"),
    [
        ({"mode": "single", "max": 3}, "max", "max applies to mode queued only"),
        ({"mode": "parallel"}, "mode", "Input should be 'single', 'restart' or 'queued'"),
        ({"trigger": []}, "trigger", "at least 1 item"),
        ({"trigger": [{"trigger": "sunset"}]}, "trigger.0", "trigger must be one of event, state, numeric_state, time"),
        ({"trigger": [{"trigger": "time", "at": "25:00"}]}, "trigger.0.time trigger.at", "hours 0-23"),
        (
            {"trigger": [{"trigger": "numeric_state", "device": "living-ac", "attribute": "room_temp_c"}]},
            "trigger.0.numeric_state trigger",
            "give above, below or both",
        ),
        (
            {
                "condition": [
                    {"condition": "numeric_state", "device": "phone", "attribute": "x", "above": 5, "below": 1}
                ]
            },
            "condition.0.numeric_state condition",
            "above (5) must be less than below (1)",
        ),
        ({"action": [{"delay": "soon"}]}, "action.0.delay", "not a duration: 'soon'"),
        ({"action": [{"delay": 5, "say": {"device": "phone", "text": "hi"}}]}, "action.0", "exactly one of"),
        ({"action": [{"notify": {"title": "${weather}"}}]}, "action.0", "${weather}: a template names one of"),
        ({"action": [{"notify": {"title": "${state.lamp.power}"}}]}, "action.0", "this home has no device 'lamp'"),
        ({"id": "Not An Id"}, "id", "String should match pattern"),
    ],
)
def test_mistakes_are_refused_with_the_field(overrides: dict[str, Any], where: str, message: str) -> None:
    problems = errors_of(rule(**overrides))
    assert any(loc == where and message in msg for loc, msg in problems), problems


@pytest.mark.parametrize(
    ("text", "seconds"), [(90, 90.0), ("90s", 90.0), ("5m", 300.0), ("1h30m", 5400.0), ("00:05:00", 300.0)]
)
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_templates_may_name_the_trigger_the_state_and_because() -> None:
    parsed = Rule.model_validate(
        rule(action=[{"notify": {"title": "${trigger.from} ${state.living-ac.room_temp_c} ${because} ${now}"}}]),
        context=CONTEXT,
    )
    assert set(parsed.action[0].templates()) == {"trigger.from", "state.living-ac.room_temp_c", "because", "now"}


# -- in a home file, in a rules file ----------------------------------------------------------------
HOME = """\
home: t
residents: [alice]
devices:
  - {id: phone, kind: phone, owner: alice}
  - {id: door-lock, kind: lock}
automations: {rules}
"""

RULES_OK = """\
- id: unlock
  trigger: {trigger: event, device: phone, event: arrived_home}
  action:
    - command: {device: door-lock, name: unlock}
"""


def test_a_rules_file_is_read_relative_to_the_home_file(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "mine.yaml").write_text(RULES_OK, encoding="utf-8")
    (tmp_path / "home.yaml").write_text(HOME.replace("{rules}", "rules/mine.yaml"), encoding="utf-8")
    plan = load_home(tmp_path / "home.yaml")
    assert isinstance(plan.automations, list)
    assert [r.id for r in plan.automations] == ["unlock"]


def test_a_mistake_in_a_rules_file_names_that_file_and_line(tmp_path: Path) -> None:
    broken = RULES_OK + "- id: unlock\n  trigger: [{trigger: event, device: garage, event: open}]\n  action: []\n"
    (tmp_path / "rules.yaml").write_text(broken, encoding="utf-8")
    (tmp_path / "home.yaml").write_text(HOME.replace("{rules}", "rules.yaml"), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_home(tmp_path / "home.yaml")
    lines = str(info.value).splitlines()
    assert f"{tmp_path / 'rules.yaml'}:6: 1.trigger.0.device: Value error, this home has no device 'garage'" in lines[0]
    assert lines[1].startswith(f"{tmp_path / 'rules.yaml'}:7: 1.action:")


def test_duplicate_rule_ids_are_refused(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(RULES_OK + RULES_OK, encoding="utf-8")
    (tmp_path / "home.yaml").write_text(HOME.replace("{rules}", "rules.yaml"), encoding="utf-8")
    with pytest.raises(ConfigError, match="rule id 'unlock' appears twice"):
        load_home(tmp_path / "home.yaml")


def test_a_missing_rules_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "home.yaml").write_text(HOME.replace("{rules}", "nowhere.yaml"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"home\.yaml:\d+: automations: no rules file .*nowhere\.yaml"):
        load_home(tmp_path / "home.yaml")


def test_inline_rules_report_the_home_file_line(tmp_path: Path) -> None:
    inline = "\n  - id: x\n    trigger: {trigger: event, device: phone, event: arrived_home}\n    action: [{delay: x}]"
    (tmp_path / "home.yaml").write_text(HOME.replace("{rules}", inline), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_home(tmp_path / "home.yaml")
    assert str(info.value).startswith(f"{tmp_path / 'home.yaml'}:9: automations.0.action.0.delay: Value error")


def test_the_demo_home_ships_the_three_proactive_features() -> None:
    plan = load_home("demo")
    assert isinstance(plan.automations, list)
    assert [r.id for r in plan.automations] == [
        "arrival_precool",
        "arrival_unlock",
        "leaving_home",
        "person_at_door_while_away",
    ]


def test_a_scenario_s_inline_home_reads_its_rules_file_next_to_the_scenario(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(RULES_OK, encoding="utf-8")
    inline_home = "\n".join("  " + line for line in HOME.replace("{rules}", "rules.yaml").splitlines())
    story = tmp_path / "story.yaml"
    story.write_text(f"title: t\narticle: a\nhome:\n{inline_home}\nsteps:\n  - sleep: 1s\n", encoding="utf-8")
    scenario, path = load_scenario(story)
    plan = home_plan(scenario, path)
    assert [r.id for r in rules_of(plan)] == ["unlock"]

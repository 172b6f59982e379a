"""The reliability bench's sections at the suite's size, on both brokers: the same functions
``hyperhome bench reliability`` runs at full size (docs/RELIABILITY.md).

- the ACL matrix: every login of two homes on one broker tries every topic and filter the rule
  table forbids it (the demo home's first devices, to stay within a few seconds);
- the bad logins: every login with a wrong, a missing and a borrowed password, unknown users,
  anonymous;
- the fuzz run: a few hundred bad payloads to every command of every device and of the
  orchestrator, each exactly one refusal and no state changed;
- a pre-cool flow through a broker restart (nothing lost, the AC started once) and link drops,
  partitions and the hand-off-on-a-bad-link scenarios (every device back, every scenario passes);
- the command itself, end to end, at a tiny size, writing its JSON.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from hyperhome.bench.reliability import access, fuzz, outage
from hyperhome.bench.reliability.fuzz import PayloadClass
from hyperhome.broker.launch import BrokerChoice
from hyperhome.broker.topics import Topics
from hyperhome.errors import ConfigError
from hyperhome.home.homefile import load_home
from hyperhome.home.runtime import Home
from hyperhome.orchestrator.flows import KINDS as FLOW_KINDS
from hyperhome.orchestrator.service import CANCEL
from tests.processes import one_error, run_hyperhome

DEVICES = 3
"""The ACL matrix and the bad logins on the demo home's first three devices (and the second home's)."""
PAYLOADS = 400
KNOWN_DEFECTS = frozenset({PayloadClass.NESTED, PayloadClass.OTHER_ENCODING})
"""Classes with a test of their own below, each marked with the defect it shows."""


def _forbidden_publishes(devices: int) -> int:
    """What the rule table forbids, over the matrix's candidates: every one must be tried."""
    homes = access.home_logins(devices)
    policy = access.policy_for(homes)
    topics = [t for c in homes for t in dict.fromkeys(access.topic_classes(Topics(c.home, c.root), c.devices))]
    logins = [login for c in homes for login, _ in access.probed_logins(c)]
    return sum(not policy.may_publish(login.username, t) for login in logins for t in topics)


async def test_acl_matrix_no_forged_publish_or_forbidden_subscription_gets_through(broker_kind: str) -> None:
    published, subscribed = await access.acl_matrix(BrokerChoice.parse(broker_kind), devices=DEVICES)

    assert published.attempts == _forbidden_publishes(DEVICES)
    assert published.details["logins"] == 2 * (DEVICES + 4)  # + controller, orchestrator, clock, integration
    assert (published.leaked, published.refused) == (0, published.attempts), published.details["examples"]

    assert subscribed.attempts > published.details["logins"] * 10
    assert subscribed.details["forbidden_filters_no_bait_could_show"] == 0
    assert (subscribed.leaked, subscribed.refused) == (0, subscribed.attempts), subscribed.details["examples"]
    # amqtt refuses in the SUBACK; Mosquitto's acl_file grants and filters every delivery instead
    how = "refused_in_suback" if broker_kind == "embedded" else "granted_but_nothing_delivered"
    assert subscribed.details[how] == subscribed.attempts


async def test_bad_logins_are_all_refused_at_connect(broker_kind: str) -> None:
    row = await access.bad_logins(BrokerChoice.parse(broker_kind), devices=DEVICES)
    logins = 2 * (DEVICES + 4)  # + controller, orchestrator, clock, integration
    assert row.attempts == 4 * logins + 2 * 2 + 2
    assert (row.leaked, row.refused) == (0, row.attempts), row.details["examples"]
    assert {outcome for counts in row.details["by_class"].values() for outcome in counts} == {"refused"}
    assert set(row.details["by_class"]) == {
        "wrong password",
        "no password",
        "another home's password",
        "another login's password",
        "unknown user",
        "anonymous",
    }


async def test_fuzz_every_bad_payload_gets_one_refusal_and_changes_nothing(broker_kind: str) -> None:
    kinds = frozenset(PayloadClass) - KNOWN_DEFECTS
    row = await fuzz.fuzz(BrokerChoice.parse(broker_kind), payloads=PAYLOADS, kinds=kinds)
    details = row.details
    assert row.attempts == PAYLOADS
    assert set(details["by_class"]) == {str(kind) for kind in kinds}
    assert details["notes"] == [], details["examples"]
    assert (row.refused, row.leaked, row.lost, row.duplicated) == (PAYLOADS, 0, 0, 0)
    assert details["state_changed"] == []
    assert details["logged_errors"] == 0, details["logged_examples"]
    for kind, counts in details["by_class"].items():
        assert set(counts["codes"]) <= fuzz.EXPECTED[PayloadClass(kind)], (kind, counts)


async def test_fuzz_deeply_nested_payloads_get_bad_request(broker_kind: str) -> None:
    row = await fuzz.fuzz(BrokerChoice.parse(broker_kind), payloads=12, kinds=frozenset({PayloadClass.NESTED}))
    assert (row.refused, row.lost) == (row.attempts, 0), row.details["notes"]
    assert row.details["by_class"]["nested"]["codes"] == {"bad_request": row.attempts}


async def test_fuzz_a_command_in_another_encoding_than_utf8_is_a_bad_request(broker_kind: str) -> None:
    row = await fuzz.fuzz(BrokerChoice.parse(broker_kind), payloads=12, kinds=frozenset({PayloadClass.OTHER_ENCODING}))
    assert row.details["by_class"]["other_encoding"]["codes"] == {"bad_request": row.attempts}


def test_fuzz_payloads_are_the_same_every_run_and_reach_every_command() -> None:
    plan = load_home("demo")
    first, again = fuzz.make_cases(plan, 300), fuzz.make_cases(plan, 300)
    assert first == again
    assert {case.kind for case in first} == set(PayloadClass)
    assert fuzz.make_cases(plan, 300, seed=fuzz.SEED + 1) != first
    targets = {(t.target, t.command) for t in fuzz.commands_of(plan)}
    schema = {(case.target, case.command) for case in first if case.kind is PayloadClass.SCHEMA}
    assert schema == targets
    # every command the orchestrator answers has its args model in the fuzz (it publishes no $meta)
    services = {name for service in Home(plan).services() for name in service.commands}
    assert set(fuzz.orchestrator_args()) == {*FLOW_KINDS, CANCEL, *services}
    # and only bad args: none that its command's own validation accepts
    accepts = {(t.target, t.command): t.accepts for t in fuzz.commands_of(plan)}
    for case in first:
        if case.kind is PayloadClass.SCHEMA:
            sent = json.loads(case.payload)
            args = sent["args"] if case.command_id is not None else sent
            assert not accepts[(case.target, case.command)](args), case


async def test_bench_reliability_runs_end_to_end_and_writes_its_json(broker_kind: str, tmp_path: Path) -> None:
    target = tmp_path / "reliability.json"
    code, out, err = await run_hyperhome(
        "bench",
        "reliability",
        "--broker",
        broker_kind,
        "--payloads",
        "60",
        "--home-devices",
        "1",
        "--takeovers",
        "1",
        "--restarts",
        "1",
        "--link-faults",
        "2",
        "--json",
        str(target),
    )
    assert code == 0, out + err
    assert "reliability: what the home refuses and keeps" in out
    data = json.loads(target.read_text(encoding="utf-8"))
    assert data["settings"]["benches"] == ["reliability"]
    assert data["machine"]["cpu"]
    assert data["machine"]["cores"] >= 1
    figures = data["reliability"][broker_kind]
    assert set(figures) == {
        *("acl_publish", "acl_subscribe", "bad_logins", "takeover", "fuzz"),
        *("restart", "link_scenarios", "link_drops"),
    }
    assert (figures["restart"]["attempts"], figures["link_drops"]["attempts"]) == (1, 2)
    for row in ("restart", "link_scenarios", "link_drops"):
        assert figures[row]["lost"] == 0, figures[row]
    assert figures["takeover"]["attempts"] == 100
    for row in ("acl_publish", "acl_subscribe", "bad_logins", "takeover"):
        assert figures[row]["attempts"] > 0
        assert (figures[row]["leaked"], figures[row]["refused"]) == (0, figures[row]["attempts"])
    assert figures["fuzz"]["attempts"] == 60
    assert figures["fuzz"]["duplicated"] == 0
    assert data["details"]["reliability"]["size"] == {
        **{"devices": 1, "payloads": 60, "seed": fuzz.SEED, "takeovers": 1},
        **{"restarts": 1, "link_faults": 2, "link_scenarios": True},
    }


# -- broker restart mid-flow, link faults ------------------------------------------------------------------
async def test_restart_no_flow_is_lost_and_no_command_applied_twice(broker_kind: str) -> None:
    row = await outage.broker_restarts(BrokerChoice.parse(broker_kind), runs=2)
    assert (row.attempts, row.lost, row.duplicated) == (2, 0, 0), row.details
    assert row.recovery_s is not None
    assert 0 < row.details["recovery_s_p50"] <= row.recovery_s < outage.WAIT_S


async def test_link_faults_every_device_comes_back_and_the_handoff_scenarios_pass(broker_kind: str) -> None:
    choice = BrokerChoice.parse(broker_kind)
    drops = await outage.link_drops(choice, runs=4)  # two drops, two partitions
    assert (drops.attempts, drops.lost) == (4, 0), drops.details
    assert drops.recovery_s is not None
    assert drops.recovery_s < outage.WAIT_S
    scenarios = await outage.link_scenarios(choice)
    assert (scenarios.attempts, scenarios.lost) == (3, 0), scenarios.details


def test_restart_and_link_faults_refuse_a_broker_by_url() -> None:
    choice = BrokerChoice.parse("mqtt://u:p@127.0.0.1:1")
    with pytest.raises(ConfigError, match="runs on a broker HyperHome starts"):
        asyncio.run(outage.broker_restarts(choice, runs=1))
    with pytest.raises(ConfigError, match="runs on a broker HyperHome starts"):
        asyncio.run(outage.link_drops(choice, runs=1))


async def test_without_hypothesis_the_bench_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "hypothesis").mkdir()
    (tmp_path / "hypothesis" / "__init__.py").write_text("raise ImportError('not installed')\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    result = await run_hyperhome("bench", "reliability", "--broker", "embedded")
    one_error(result, "the reliability bench draws its payloads with hypothesis: pip install 'hyperhome[bench]'")

"""The one access-control table (acl.py): filter containment, the Policy, the Mosquitto rendering."""

from __future__ import annotations

import pytest

from hyperhome.broker.acl import Access, Policy, Rule, filter_within, mosquitto_acl, rules_for
from hyperhome.broker.credentials import HomeCredentials, Principal, Role


@pytest.mark.parametrize(
    ("requested", "allowed", "within"),
    [
        ("a/b/c", "a/b/c", True),
        ("a/b/c", "a/b/d", False),
        ("a/b", "a/b/c", False),
        ("a/b/c", "a/b", False),
        ("a/b/c", "a/#", True),
        ("a", "a/#", True),  # 'a/#' matches 'a' itself
        ("a/#", "a/#", True),
        ("a/b/#", "a/#", True),
        ("a/#", "a/b/#", False),
        ("#", "a/#", False),
        ("a/x/c", "a/+/c", True),
        ("a/+/c", "a/+/c", True),
        ("a/+/c", "a/b/c", False),
        ("a/#", "a/+", False),
        ("a/+/#", "a/+/#", True),
        ("+/b", "a/b", False),
        ("h/+/$meta", "h/+/$meta", True),
        ("h/cam/$meta", "h/+/$meta", True),
        ("h/+/+", "h/+/$meta", False),
    ],
)
def test_filter_within(requested: str, allowed: str, within: bool) -> None:
    assert filter_within(requested, allowed) is within


@pytest.fixture
def policy() -> Policy:
    policy = Policy()
    for home in ("home-a", "home-b"):
        for login, principal in HomeCredentials.generate(home, ["cam", "lock"]).logins():
            policy.add(login.username, principal)
    return policy


@pytest.mark.parametrize(
    ("topic", "allowed"),
    [
        ("hyperhome/home-a/cam/$meta", True),
        ("hyperhome/home-a/cam/$availability", True),
        ("hyperhome/home-a/cam/state", True),
        ("hyperhome/home-a/cam/reply", True),
        ("hyperhome/home-a/cam/event/motion", True),
        ("hyperhome/home-a/cam/stream/front", True),
        ("hyperhome/home-a/cam/$sync/cam", False),
        ("hyperhome/home-a/$sync/cam", True),
        ("hyperhome/home-a/$sync/lock", False),
        ("hyperhome/home-a/cam/cmd/privacy", False),
        ("hyperhome/home-a/lock/cmd/unlock", False),
        ("hyperhome/home-a/lock/state", False),
        ("hyperhome/home-a/$orchestrator/flow/f-1", False),
        ("hyperhome/home-b/cam/state", False),
        ("hyperhome/home-a/cam/statex", False),
    ],
)
def test_device_may_publish_its_own_topics_except_cmd(policy: Policy, topic: str, allowed: bool) -> None:
    assert policy.may_publish("home-a.cam", topic) is allowed


@pytest.mark.parametrize(
    ("topic_filter", "allowed"),
    [
        ("hyperhome/home-a/cam/cmd/#", True),
        ("hyperhome/home-a/cam/cmd/privacy", True),
        ("hyperhome/home-a/+/stream/#", True),
        ("hyperhome/home-a/lock/stream/door", True),
        ("hyperhome/home-a/+/$meta", True),
        ("hyperhome/home-a/+/$availability", True),
        ("hyperhome/home-a/$sync/$clock", True),
        ("hyperhome/home-a/lock/cmd/#", False),
        ("hyperhome/home-a/+/cmd/#", False),
        ("hyperhome/home-a/+/state", False),
        ("hyperhome/home-a/#", False),
        ("hyperhome/#", False),
        ("#", False),
        ("hyperhome/home-b/cam/cmd/#", False),
    ],
)
def test_device_may_subscribe_to_its_commands_and_the_homes_streams_and_presence(
    policy: Policy, topic_filter: str, allowed: bool
) -> None:
    assert policy.may_subscribe("home-a.cam", topic_filter) is allowed


@pytest.mark.parametrize(
    ("username", "may_publish_cmd", "may_publish_state", "may_receive_state"),
    [
        ("home-a.$orchestrator", True, True, True),
        ("home-a.$controller", True, False, True),
        ("home-a.$clock", False, False, False),
        ("home-a.cam", False, False, False),
        ("home-b.$orchestrator", False, False, False),
        ("home-a.ghost", False, False, False),
        (None, False, False, False),
    ],
)
def test_roles_on_one_devices_topics(
    policy: Policy, username: str | None, may_publish_cmd: bool, may_publish_state: bool, may_receive_state: bool
) -> None:
    assert policy.may_publish(username, "hyperhome/home-a/lock/cmd/unlock") is may_publish_cmd
    assert policy.may_publish(username, "hyperhome/home-a/lock/state") is may_publish_state
    assert policy.may_receive(username, "hyperhome/home-a/lock/state") is may_receive_state


def test_orchestrator_and_controller_subscribe_to_their_home_only(policy: Policy) -> None:
    for role in ("$orchestrator", "$controller"):
        assert policy.may_subscribe(f"home-a.{role}", "hyperhome/home-a/#")
        assert not policy.may_subscribe(f"home-a.{role}", "hyperhome/#")
        assert not policy.may_subscribe(f"home-a.{role}", "hyperhome/+/cam/state")
        assert not policy.may_receive(f"home-a.{role}", "hyperhome/home-b/cam/state")


def test_policy_rules_follow_the_root_of_each_home() -> None:
    policy = Policy()
    cam = Principal(home="home-a", role=Role.DEVICE, device="cam")
    policy.add("home-a.cam", cam, root="lab")
    assert policy.may_publish("home-a.cam", "lab/home-a/cam/state")
    assert not policy.may_publish("home-a.cam", "hyperhome/home-a/cam/state")


def test_mosquitto_acl_renders_every_rule_of_every_login() -> None:
    creds = HomeCredentials.generate("home-a", ["cam"])
    logins = [(login.username, principal) for login, principal in creds.logins()]
    text = mosquitto_acl(logins)
    blocks = {block.splitlines()[0]: block.splitlines()[1:] for block in text.split("\n\n")[1:] if block}
    assert set(blocks) == {f"user {username}" for username, _ in logins}
    for username, principal in logins:
        expected = [
            f"topic {'write' if r.access is Access.PUBLISH else 'read'} {r.pattern}" for r in rules_for(principal)
        ]
        assert blocks[f"user {username}"] == expected
    assert "topic write hyperhome/home-a/cam/cmd" not in text
    assert "topic read hyperhome/home-a/#" in blocks["user home-a.$orchestrator"]


def test_rules_for_a_device_never_grant_its_own_commands() -> None:
    rules = rules_for(Principal(home="h", role=Role.DEVICE, device="d"))
    assert Rule(Access.SUBSCRIBE, "hyperhome/h/d/cmd/#") in rules
    assert not [r for r in rules if r.access is Access.PUBLISH and filter_within("hyperhome/h/d/cmd/x", r.pattern)]

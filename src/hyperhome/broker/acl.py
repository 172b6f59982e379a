"""Access control of the wire contract as data: one rule table, used by both brokers.

``rules_for(principal, root)`` lists what a login may publish and subscribe to. The embedded
broker's topic plugin evaluates these rules; the Mosquitto launcher renders the same rules into
an ``acl_file``. So the two brokers enforce one policy, written once.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from paho.mqtt.client import topic_matches_sub

from hyperhome.broker.credentials import Principal, Role
from hyperhome.broker.filters import within
from hyperhome.broker.topics import CLOCK, DEFAULT_ROOT, SYNC, ZIGBEE2MQTT_BASE, discovery_hub, discovery_node


class Access(StrEnum):
    PUBLISH = "publish"
    SUBSCRIBE = "subscribe"


@dataclass(frozen=True, slots=True)
class Rule:
    access: Access
    pattern: str


def rules_for(principal: Principal, root: str = DEFAULT_ROOT) -> list[Rule]:
    """The contract's access-control table (docs/protocol.md) for one login."""
    home = f"{root}/{principal.home}"
    pub, sub = Access.PUBLISH, Access.SUBSCRIBE
    sync_out = Rule(pub, f"{home}/{SYNC}/{principal.name}")
    sync_in = Rule(sub, f"{home}/{SYNC}/{CLOCK}")
    ha = principal.discovery_prefix
    z2m = ZIGBEE2MQTT_BASE
    # what an app written for Zigbee2MQTT does, with a controller's login: read everything under
    # the base topic, and send /set, /get and bridge requests (the bridge turns them into the
    # devices' own commands, which the controller may send anyway)
    zigbee2mqtt_app = [
        Rule(sub, f"{z2m}/#"),
        Rule(pub, f"{z2m}/+/set"),
        Rule(pub, f"{z2m}/+/set/+"),
        Rule(pub, f"{z2m}/+/get"),
        Rule(pub, f"{z2m}/bridge/request/#"),
    ]
    match principal.role:
        case Role.DEVICE:
            me = f"{home}/{principal.name}"
            # Home Assistant discovery (docs/home-assistant.md): its own configs, the birth message
            discovery = (
                []
                if ha is None
                else [
                    Rule(pub, f"{ha}/+/{discovery_node(principal.home, principal.name)}/+/config"),
                    Rule(sub, f"{ha}/status"),
                ]
            )
            return [
                # its own subtree except cmd/#: the contract's device topics, listed
                *(Rule(pub, f"{me}/{leaf}") for leaf in ("$meta", "$availability", "state", "reply", "still")),
                Rule(pub, f"{me}/event/#"),
                Rule(pub, f"{me}/stream/#"),
                Rule(sub, f"{me}/cmd/#"),
                Rule(sub, f"{home}/+/stream/#"),
                Rule(sub, f"{home}/+/$meta"),
                Rule(sub, f"{home}/+/$availability"),
                sync_out,
                sync_in,
                *discovery,
            ]
        case Role.ORCHESTRATOR:
            # the home's own discovery configs (the hub every device is via_device of)
            hub = (
                []
                if ha is None
                else [Rule(pub, f"{ha}/+/{discovery_hub(principal.home)}/+/config"), Rule(sub, f"{ha}/status")]
            )
            return [Rule(pub, f"{home}/#"), Rule(sub, f"{home}/#"), *hub]
        case Role.HOME_ASSISTANT:
            # what a Home Assistant needs: read what its entities show, send the commands they
            # map, and its own discovery and status topics (it clears a config a user deletes)
            prefix = ha or "homeassistant"
            return [
                *(Rule(sub, f"{home}/+/{leaf}") for leaf in ("state", "$availability", "still", "event/#")),
                *(
                    Rule(pub, f"{home}/{command.split('/', 1)[0]}/cmd/{command.split('/', 1)[1]}")
                    for command in principal.ha_commands
                ),
                Rule(pub, f"{prefix}/status"),
                Rule(sub, f"{prefix}/status"),
                *(Rule(access, f"{prefix}/{levels}/config") for levels in ("+/+", "+/+/+") for access in (pub, sub)),
            ]
        case Role.CONTROLLER:
            return [Rule(pub, f"{home}/+/cmd/#"), Rule(sub, f"{home}/#"), sync_out, *zigbee2mqtt_app]
        case Role.ZIGBEE2MQTT:
            # reads the home, drives its devices' cmd/ topics, and owns the Zigbee2MQTT topics
            return [
                *(Rule(sub, f"{home}/+/{leaf}") for leaf in ("$meta", "state", "$availability", "reply")),
                Rule(pub, f"{home}/+/cmd/#"),
                Rule(pub, f"{z2m}/#"),
                Rule(sub, f"{z2m}/#"),
                sync_out,
                sync_in,
            ]
        case Role.INTEGRATION:  # a system under test: what a real controller app may do, no more
            return [Rule(pub, f"{home}/+/cmd/#"), Rule(sub, f"{home}/#")]
        case Role.CLOCK:
            return [Rule(pub, f"{home}/{SYNC}/{CLOCK}"), Rule(sub, f"{home}/{SYNC}/+")]


filter_within = within


class Policy:
    """Decides publish, subscribe and receive for logins (the embedded broker's view)."""

    def __init__(self, root: str = DEFAULT_ROOT) -> None:
        self._root = root
        self._rules: dict[str, list[Rule]] = {}

    def add(self, username: str, principal: Principal, root: str | None = None) -> None:
        """Give ``username`` the rules of ``principal``, under ``root`` (default: the policy's root)."""
        self._rules[username] = rules_for(principal, root or self._root)

    def may_publish(self, username: str | None, topic: str) -> bool:
        rules = self._rules.get(username or "", ())
        return any(r.access is Access.PUBLISH and topic_matches_sub(r.pattern, topic) for r in rules)

    def may_subscribe(self, username: str | None, topic_filter: str) -> bool:
        rules = self._rules.get(username or "", ())
        return any(r.access is Access.SUBSCRIBE and filter_within(topic_filter, r.pattern) for r in rules)

    def may_receive(self, username: str | None, topic: str) -> bool:
        rules = self._rules.get(username or "", ())
        return any(r.access is Access.SUBSCRIBE and topic_matches_sub(r.pattern, topic) for r in rules)


def mosquitto_acl(logins: list[tuple[str, Principal]], root: str = DEFAULT_ROOT) -> str:
    """Render the rules as a Mosquitto ``acl_file`` (``write`` = publish, ``read`` = subscribe)."""
    lines = ["# Generated by HyperHome from the contract's access-control table. Do not edit.", ""]
    for username, principal in logins:
        lines.append(f"user {username}")
        for rule in rules_for(principal, root):
            lines.append(f"topic {'write' if rule.access is Access.PUBLISH else 'read'} {rule.pattern}")
        lines.append("")
    return "\n".join(lines)

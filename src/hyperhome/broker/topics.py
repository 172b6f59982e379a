"""Topic names of the wire contract (docs/protocol.md), in one place.

Every topic is ``{root}/{home}/{device}/...``. ``Topics`` builds them for one home and parses
incoming ones back into a ``TopicRef``; nothing else in the code base formats a topic string.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from hyperhome.errors import ConfigError

ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
"""A name that is not a device id (a resident, a rule, an event, a flow kind, a scenario): dots allowed."""
STREAM_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,31}$"
"""A stream's name (``stream/{stream}``: ``rear``, ``front``, ``display``)."""
ROOT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
_ID_RE = re.compile(ID_PATTERN)
_ROOT_RE = re.compile(ROOT_PATTERN)
_NAME_RE = re.compile(NAME_PATTERN)

DEFAULT_ROOT = "hyperhome"
ORCHESTRATOR = "$orchestrator"
SYNC = "$sync"
CONTROLLER = "$controller"
CLOCK = "$clock"
HOME_ASSISTANT = "$home_assistant"
DEFAULT_HA_PREFIX = "homeassistant"
"""Home Assistant's MQTT discovery prefix (its ``discovery_prefix``), changeable with ``--home-assistant-prefix``."""
ZIGBEE2MQTT = "$zigbee2mqtt"
"""The Zigbee2MQTT bridge's name (``hyperhome up --zigbee2mqtt``, conventions/zigbee2mqtt.py)."""
ZIGBEE2MQTT_BASE = "zigbee2mqtt"
"""Zigbee2MQTT's base topic, as apps written for it expect it."""
INTEGRATION = "$integration"
"""The login of a system under test (a user's service): a controller app's rights (docs/test-your-code.md)."""

Kind = Literal["$meta", "$availability", "state", "event", "cmd", "reply", "stream", "flow"]


def check_id(value: str, what: str = "id") -> str:
    """Return ``value`` if it is a valid home or device id, else raise ConfigError."""
    if not _ID_RE.fullmatch(value):
        msg = f"{what} {value!r} must match {ID_PATTERN} (lower-case letters, digits, '-' and '_')"
        raise ConfigError(msg)
    return value


def discovery_node(home: str, device: str) -> str:
    """The ``node_id`` of a device's Home Assistant discovery topics,
    ``{prefix}/{component}/{node_id}/{object_id}/config``: ``{len(home)}_{home}_{device}``.

    One topic level per device, so the access-control table can give each device's login its own
    configs and no other's; the length of the home makes it one-to-one (ids may hold ``_``, so
    ``a_b`` + ``c`` and ``a`` + ``b_c`` would otherwise meet), and it keeps to the characters
    Home Assistant allows there (``[a-zA-Z0-9_-]``).
    """
    return f"{discovery_hub(home)}_{check_id(device, 'device id')}"


def discovery_hub(home: str) -> str:
    """The ``node_id`` of the home's own discovery configs (the device every device is
    ``via_device`` of): ``{len(home)}_{home}``, never a device's node (it lacks the device part)."""
    return f"{len(check_id(home, 'home'))}_{home}"


def check_name(value: str, what: str) -> str:
    """Command, event and stream names: lower-case words joined by '.', '-' or '_'."""
    if not _NAME_RE.fullmatch(value):
        msg = f"{what} {value!r} must be lower-case letters, digits, '.', '-' or '_'"
        raise ConfigError(msg)
    return value


@dataclass(frozen=True, slots=True)
class TopicRef:
    """A parsed topic: which device of which home, what kind, and the name after the kind."""

    home: str
    device: str
    kind: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Topics:
    """Topic builder and parser for one home under one root."""

    home: str
    root: str = DEFAULT_ROOT

    def __post_init__(self) -> None:
        check_id(self.home, "home")
        if not _ROOT_RE.fullmatch(self.root):
            msg = f"topic root {self.root!r} must match {ROOT_PATTERN}"
            raise ConfigError(msg)

    # -- building ---------------------------------------------------------------------------
    @property
    def base(self) -> str:
        return f"{self.root}/{self.home}"

    def device(self, device: str) -> str:
        return f"{self.base}/{device}"

    def meta(self, device: str) -> str:
        return f"{self.base}/{device}/$meta"

    def availability(self, device: str) -> str:
        return f"{self.base}/{device}/$availability"

    def state(self, device: str) -> str:
        return f"{self.base}/{device}/state"

    def event(self, device: str, name: str) -> str:
        return f"{self.base}/{device}/event/{name}"

    def cmd(self, device: str, command: str) -> str:
        return f"{self.base}/{device}/cmd/{command}"

    def reply(self, device: str) -> str:
        return f"{self.base}/{device}/reply"

    def stream(self, device: str, stream: str) -> str:
        return f"{self.base}/{device}/stream/{stream}"

    def still(self, device: str) -> str:
        """A camera's latest still image (retained PNG bytes, docs/protocol.md "Stills")."""
        return f"{self.base}/{device}/still"

    def flow(self, flow_id: str) -> str:
        return f"{self.base}/{ORCHESTRATOR}/flow/{flow_id}"

    def sync(self, participant: str) -> str:
        """Barrier token topic of the virtual clock (docs/protocol.md, 'Virtual time')."""
        return f"{self.base}/{SYNC}/{participant}"

    # -- filters ------------------------------------------------------------------------------
    @property
    def everything(self) -> str:
        return f"{self.base}/#"

    def all_of(self, kind: str) -> str:
        """Filter for one kind of topic on every device, e.g. ``all_of('$meta')``."""
        if kind in ("event", "cmd", "stream", "flow"):
            return f"{self.base}/+/{kind}/#"
        return f"{self.base}/+/{kind}"

    # -- parsing -------------------------------------------------------------------------------
    def parse(self, topic: str) -> TopicRef | None:
        """Parse a topic of this home; None if it is not one of the contract's shapes."""
        prefix = self.base + "/"
        if not topic.startswith(prefix):
            return None
        parts = topic[len(prefix) :].split("/")
        if len(parts) == 2 and parts[1] in ("$meta", "$availability", "state", "reply"):
            return TopicRef(self.home, parts[0], parts[1])
        if len(parts) >= 3 and parts[1] in ("event", "cmd", "stream", "flow"):
            return TopicRef(self.home, parts[0], parts[1], "/".join(parts[2:]))
        if len(parts) == 2 and parts[0] == SYNC:
            return TopicRef(self.home, parts[1], SYNC)
        return None

"""Which keys are secrets comes from the devices' own schemas; replies lose exactly those."""

from __future__ import annotations

from typing import Any

from hyperhome.broker.topics import ORCHESTRATOR, Topics
from hyperhome.broker.wire import Meta, secret_keys
from hyperhome.devices.base import args_schema
from hyperhome.devices.components.hotspot import HotspotStartArgs
from hyperhome.devices.lock import UnlockArgs
from hyperhome.devices.phone import Phone
from hyperhome.orchestrator.registry import DeviceView, Registry
from hyperhome.web.redact import Redactor


def test_secret_keys_are_read_from_write_only_in_the_schema() -> None:
    assert secret_keys(args_schema(HotspotStartArgs)) == {"password"}  # Annotated[str, SECRET] | None
    assert secret_keys(args_schema(UnlockArgs)) == {"pin"}  # SecretStr
    nested = {"properties": {"wifi": {"properties": {"key": {"type": "string", "writeOnly": True}}}}}
    assert secret_keys(nested) == {"key"}
    assert secret_keys({"properties": {"ssid": {"type": "string"}}}) == frozenset()


def redactor() -> Redactor:
    registry = Registry(Topics("demo"))
    commands = {name: args_schema(spec.args) for name, spec in Phone.commands.items()}
    meta = Meta(id="phone", home="demo", kind="phone", name="Phone", sw_version="0", commands=commands)
    registry.devices["phone"] = DeviceView("phone", meta=meta)
    return Redactor(registry)


def reply(command: str, result: dict[str, Any]) -> dict[str, Any]:
    return {"id": "c-1", "command": command, "ok": True, "result": result, "ts": "t"}


def test_a_reply_loses_its_secrets_and_nothing_else() -> None:
    started = reply("hotspot.start", {"ssid": "Phone", "already_on": False, "password": "made-up-secret"})
    assert redactor().reply("phone", started)["result"] == {"ssid": "Phone", "already_on": False}
    stopped = reply("hotspot.stop", {"ssid": "Phone", "dropped": [], "used_mb": {}})
    assert redactor().reply("phone", stopped) == stopped


def test_what_cannot_be_checked_is_not_shown() -> None:
    unknown_device = redactor().reply("tablet", reply("anything", {"password": "x"}))
    assert "result" not in unknown_device
    unknown_command = redactor().reply("phone", reply("not.in.meta", {"password": "x"}))
    assert "result" not in unknown_command
    flow = reply("precool", {"flow_id": "f-1"})
    assert redactor().reply(ORCHESTRATOR, flow) == flow, "the orchestrator publishes no $meta and no secret"

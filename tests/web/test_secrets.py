"""No secret reaches the browser: a session over the real WebSocket and REST that runs every
secret-bearing command (found from the device models: args fields marked ``writeOnly``) and
the network_share flow, with every message recorded, holds none of the secrets that went over
MQTT meanwhile (a watcher with the controller's login reads the command topics to know them)."""

from __future__ import annotations

import json
from typing import Any

import httpx

from hyperhome.broker.client import Message
from hyperhome.broker.wire import secret_keys
from hyperhome.devices.base import args_schema
from hyperhome.devices.catalog import KINDS
from tests.web.conftest import Events, Web

WAIT_S = 10.0
GIVEN = "given-pass-1234"  # a password handed to the phone (never echoed)
PIN = "240617"  # Alice's door PIN in the demo home
WRONG_PIN = "975310"


def secret_commands() -> dict[tuple[str, str], frozenset[str]]:
    """(kind, command) -> the secret keys of its args, from every kind's models."""
    found = {}
    for kind, cls in KINDS.items():
        for name, spec in cls.commands.items():
            keys = secret_keys(args_schema(spec.args))
            if keys:
                found[(kind, name)] = keys
    return found


class Watcher:
    """Every message of the home over MQTT, commands included, and the secrets in them."""

    def __init__(self, web: Web) -> None:
        self.kinds = {device.id: device.kind for device in web.home.devices.values()}
        self.secrets: set[str] = set()
        self.from_replies: set[str] = set()

    def __call__(self, message: Message) -> None:
        parts = message.topic.split("/")
        device, kind = parts[2], parts[3]
        if kind not in ("cmd", "reply"):
            return
        data = message.json()
        if kind == "cmd":
            keys = secret_commands().get((self.kinds.get(device, ""), parts[4]), frozenset())
            self.secrets.update(str(data["args"][key]) for key in keys if data["args"].get(key) is not None)
            return
        keys = secret_commands().get((self.kinds.get(device, ""), data["command"]), frozenset())
        found = {str(data["result"][key]) for key in keys if (data.get("result") or {}).get(key) is not None}
        self.secrets |= found
        self.from_replies |= found


async def command(web: Web, events: Events, answers: list[httpx.Response], device: str, name: str, args: Any) -> None:
    """Over REST, as the dashboard would; then wait until the WebSocket shows its reply."""
    response = await web.client.post(f"/api/devices/{device}/commands/{name}", json=args)
    answers.append(response)
    body = response.json()
    reply_id = body["id"] if response.status_code == 200 else body["reply"]["id"]
    await events.next(lambda m: m["type"] == "reply" and (m["data"] or {}).get("id") == reply_id, timeout_s=WAIT_S)


async def test_every_secret_bearing_command_and_flow_leaves_no_secret_in_what_the_browser_gets(web: Web) -> None:
    assert set(secret_commands()) == {
        ("phone", "hotspot.start"),
        ("tablet", "network.join_hotspot"),
        ("laptop", "network.join_hotspot"),
        ("lock", "unlock"),
    }, "a new secret-bearing command: exercise it below"
    watcher = Watcher(web)
    answers: list[httpx.Response] = []
    async with web.home.controller(in_sim_time=False) as ctl:
        await ctl.bus.subscribe(ctl.topics.everything, watcher)
        await ctl.synced()
        async with web.events("#") as events:
            await command(web, events, answers, "phone", "hotspot.start", {})  # the phone makes one up
            await command(web, events, answers, "phone", "hotspot.stop", {})
            await command(web, events, answers, "phone", "hotspot.start", {"password": GIVEN})
            ssid = answers[-1].json()["result"]["ssid"]
            for device in ("tablet", "laptop"):
                join = {"ssid": ssid, "password": GIVEN, "host": "phone"}
                await command(web, events, answers, device, "network.join_hotspot", join)
                await command(web, events, answers, device, "network.leave", {})
            await command(web, events, answers, "phone", "hotspot.stop", {})
            await command(web, events, answers, "door-lock", "unlock", {"method": "pin", "pin": WRONG_PIN})
            await command(web, events, answers, "door-lock", "unlock", {"method": "pin", "pin": PIN})
            # out of Wi-Fi, the tablet asks for the share itself: the orchestrator makes a password
            await command(web, events, answers, "tablet", "simulate.wifi", {"link": "down"})
            started = await events.next(
                lambda m: m["type"] == "flow" and m["data"]["kind"] == "network_share", timeout_s=WAIT_S
            )
            flow_id = started["name"]

            def shared(m: dict[str, Any]) -> bool:
                steps = m["data"]["steps"] if m["type"] == "flow" and m["name"] == flow_id else []
                return any(s["name"] == "share" for s in steps)

            if not any(shared(m) for m in events.seen):
                await events.next(shared, timeout_s=WAIT_S)
            answers.append(await web.client.delete(f"/api/flows/{flow_id}"))
            await events.next(lambda m: m["type"] == "flow" and m["data"]["state"] == "cancelled", timeout_s=WAIT_S)
            answers.append(await web.client.get("/api/devices"))
            answers.append(await web.client.get("/api/flows"))
        on_websocket = json.dumps(events.seen)
    assert {GIVEN, PIN, WRONG_PIN} <= watcher.secrets, "the watcher saw the secrets go by"
    assert len(watcher.from_replies) == 1, "the phone's own password, in its reply to the first hotspot.start"
    assert len(watcher.secrets) >= 5, "and network_share's generated one, in its commands"
    assert not sorted(s for s in watcher.secrets if s in on_websocket), "secrets on the WebSocket"
    assert not sorted(s for s in watcher.secrets if any(s in a.text for a in answers)), "secrets in REST answers"
    assert set(answers[0].json()["result"]) == {"ssid", "already_on"}
    assert all(a.status_code in (200, 201, 409) for a in answers), [a.text for a in answers]

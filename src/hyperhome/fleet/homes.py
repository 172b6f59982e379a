"""A fleet's homes: copies of one template, each with its own home id, logins and devices.

Home ``i`` of a fleet from template ``demo`` is ``demo-00017`` (``home_id``): its topics are
``{root}/demo-00017/...`` and its logins ``demo-00017.{name}`` (docs/protocol.md, "Homes of a
fleet"), so the access-control table that keeps a device inside its own home keeps every home
of a fleet out of every other one's topics.

Passwords: on a broker HyperHome runs for the fleet, every login has its own password, derived
from one fleet secret (``password_of``: HMAC-SHA256 of the login's username). The workers get the
secret, never a list of passwords, and derive the logins of their own homes; a login's password
tells nothing about another's, and the secret never goes on the wire.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Any

from hyperhome.broker.credentials import FLEET_SEATS, HomeCredentials, Login
from hyperhome.broker.topics import check_id
from hyperhome.devices import catalog
from hyperhome.errors import ConfigError
from hyperhome.fleet.plan import HomePlan
from hyperhome.home.homefile import HomeFile

INDEX_DIGITS = 5


def home_id(template: HomeFile, index: int) -> str:
    """``{template home}-{index:05d}``: the fleet's home ``index``."""
    return check_id(f"{template.home}-{index:0{INDEX_DIGITS}d}", "home")


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def password_of(secret: str, username: str) -> str:
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode()


def credentials(template: HomeFile, home: str, secret: str) -> HomeCredentials:
    """The logins of fleet home ``home``, each with its password derived from ``secret``: those
    its clients use (its devices, orchestrator, clock, the fleet's driver as its controller, and
    ``FLEET_SEATS`` seats for tools that watch the home from outside), no integration login."""
    creds = HomeCredentials.generate(home, [d.id for d in template.devices], root=template.root, password="x")

    def derived(login: Login) -> Login:
        return Login(username=login.username, password=password_of(secret, login.username))

    return creds.model_copy(
        update={
            "controller": derived(creds.controller),
            "orchestrator": derived(creds.orchestrator),
            "clock": derived(creds.clock),
            "devices": {device: derived(login) for device, login in creds.devices.items()},
            "integration": None,
            "seats": FLEET_SEATS,
        }
    )


def home_file(template: HomeFile, plan: HomePlan, *, call_fps: float | None = None) -> HomeFile:
    """The template as home ``plan.home``, its devices starting in the state of the plan's moment;
    ``call_fps``: the frame rate (simulated) of every calling device's own camera in a call."""
    devices = []
    for spec in template.devices:
        update: dict[str, Any] = {"state": {**spec.state, **plan.start_state.get(spec.id, {})}}
        if call_fps is not None and "call_fps" in catalog.kind(spec.kind).Config.model_fields:
            update["config"] = {**spec.config, "call_fps": round(call_fps, 3)}
        devices.append(spec.model_copy(update=update))
    name = f"{template.name or template.home} #{plan.index}"
    return template.model_copy(update={"home": plan.home, "name": name, "devices": devices})


def template_json(template: HomeFile) -> dict[str, Any]:
    """The template as JSON for a worker elsewhere (its rules and grammar already read in)."""
    return template.model_dump(mode="json", by_alias=True, exclude_none=True)


def template_from_json(data: dict[str, Any]) -> HomeFile:
    try:
        return HomeFile.model_validate(data)
    except ValueError as exc:
        msg = f"the fleet's home template does not validate here: {exc}"
        raise ConfigError(msg) from None

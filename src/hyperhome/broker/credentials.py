"""Per-client logins for a home, and the credentials file ``hyperhome up`` writes.

Every client logs in with its own username and password. A username is
``{home}.{name}`` where ``name`` is a device id, ``$orchestrator``, ``$controller`` or ``$clock``
(the virtual clock's barrier coordinator); ``.`` never occurs in an id, so the home and the
principal can always be read back from a username.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hyperhome.broker.topics import CLOCK, CONTROLLER, DEFAULT_ROOT, ORCHESTRATOR, check_id
from hyperhome.errors import ConfigError


class Role(StrEnum):
    DEVICE = "device"
    ORCHESTRATOR = "orchestrator"
    CONTROLLER = "controller"
    CLOCK = "clock"


_ROLE_NAMES = {Role.ORCHESTRATOR: ORCHESTRATOR, Role.CONTROLLER: CONTROLLER, Role.CLOCK: CLOCK}


class Principal(BaseModel):
    """Who a login is: a role in one home (and which device, for a device)."""

    model_config = ConfigDict(frozen=True)

    home: str
    role: Role
    device: str | None = None

    @property
    def name(self) -> str:
        """The name used in topics and usernames: the device id or ``$orchestrator`` etc."""
        if self.role is Role.DEVICE:
            assert self.device is not None
            return self.device
        return _ROLE_NAMES[self.role]

    @property
    def username(self) -> str:
        return f"{self.home}.{self.name}"

    @classmethod
    def from_username(cls, username: str) -> Principal | None:
        home, sep, name = username.partition(".")
        if not sep:
            return None
        for role, role_name in _ROLE_NAMES.items():
            if name == role_name:
                return cls(home=home, role=role)
        try:
            check_id(home)
            check_id(name)
        except ConfigError:
            return None
        return cls(home=home, role=Role.DEVICE, device=name)


class Login(BaseModel):
    model_config = ConfigDict(frozen=True)

    username: str
    password: str = Field(repr=False)


def new_password() -> str:
    return secrets.token_urlsafe(18)


class HomeCredentials(BaseModel):
    """Where the broker is and every login of one home; the JSON of the credentials file."""

    host: str = "127.0.0.1"
    port: int = 1883
    home: str
    root: str = DEFAULT_ROOT
    controller: Login
    orchestrator: Login
    clock: Login
    devices: dict[str, Login] = Field(default_factory=dict)

    @classmethod
    def generate(
        cls,
        home: str,
        devices: Iterable[str],
        *,
        host: str = "127.0.0.1",
        port: int = 1883,
        root: str = DEFAULT_ROOT,
        password: str | None = None,
    ) -> HomeCredentials:
        """Fresh random passwords for every client (or ``password`` for all of them)."""
        check_id(home, "home")

        def login(role: Role, device: str | None = None) -> Login:
            principal = Principal(home=home, role=role, device=device)
            return Login(username=principal.username, password=password or new_password())

        return cls(
            host=host,
            port=port,
            home=home,
            root=root,
            controller=login(Role.CONTROLLER),
            orchestrator=login(Role.ORCHESTRATOR),
            clock=login(Role.CLOCK),
            devices={check_id(d, "device"): login(Role.DEVICE, d) for d in devices},
        )

    def add_device(self, device: str, password: str | None = None) -> Login:
        login = Login(
            username=Principal(home=self.home, role=Role.DEVICE, device=check_id(device)).username,
            password=password or new_password(),
        )
        self.devices[device] = login
        return login

    def logins(self) -> list[tuple[Login, Principal]]:
        """Every login with the principal it stands for."""
        out = [
            (self.controller, Principal(home=self.home, role=Role.CONTROLLER)),
            (self.orchestrator, Principal(home=self.home, role=Role.ORCHESTRATOR)),
            (self.clock, Principal(home=self.home, role=Role.CLOCK)),
        ]
        out += [(login, Principal(home=self.home, role=Role.DEVICE, device=d)) for d, login in self.devices.items()]
        return out

    def device(self, device: str) -> Login:
        try:
            return self.devices[device]
        except KeyError:
            msg = f"no credentials for device {device!r} in home {self.home!r}"
            raise ConfigError(msg) from None

    def save(self, path: Path) -> None:
        """Write the credentials file with mode 0600 (created that way, never world-readable)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        data = self.model_dump_json(indent=2).encode()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, data)
        finally:
            os.close(fd)

    @classmethod
    def load(cls, path: Path) -> HomeCredentials:
        try:
            return cls.model_validate(json.loads(path.read_text()))
        except FileNotFoundError:
            msg = f"credentials file {path} does not exist (is `hyperhome up` running?)"
            raise ConfigError(msg) from None
        except (json.JSONDecodeError, ValidationError) as exc:
            msg = f"credentials file {path} is not valid: {exc}"
            raise ConfigError(msg) from None

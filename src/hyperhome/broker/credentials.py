"""Per-client logins for a home, and the credentials file ``hyperhome up`` writes.

Every client logs in with its own username and password. A username is
``{home}.{name}`` where ``name`` is a device id, ``$orchestrator``, ``$controller``, ``$clock``
(the virtual clock's barrier coordinator) or ``$home_assistant`` (a Home Assistant pointed at
the home, ``hyperhome up --home-assistant``, docs/home-assistant.md); ``.`` never occurs in an id, so the home and the
principal can always be read back from a username. The controller's login also comes in
``CONTROLLER_SEATS`` seats, ``{home}.$controller-{n}`` with the controller's password: a client
id belongs to one login (``broker/identity.py``), and several controllers of a home may be
connected at once, each in its own seat. A home may hold fewer (``HomeCredentials.seats``: a
fleet home holds ``FLEET_SEATS``).

On a broker HyperHome does not run (a URL), the logins are the operator's: one for every client
(from the URL) or one per client (``ClientLogins``, from ``--logins FILE``). Whatever the login,
a client's MQTT client id is always its own, ``client_id_of(home, name)``: a broker closes the
older of two connections with one client id. ``TlsFiles`` say how to reach it over TLS.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import ssl
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from hyperhome.broker.topics import (
    CLOCK,
    CONTROLLER,
    DEFAULT_ROOT,
    HOME_ASSISTANT,
    INTEGRATION,
    ORCHESTRATOR,
    ZIGBEE2MQTT,
    check_id,
)
from hyperhome.broker.wire import format_validation_error
from hyperhome.errors import ConfigError


class Role(StrEnum):
    DEVICE = "device"
    ORCHESTRATOR = "orchestrator"
    CONTROLLER = "controller"
    CLOCK = "clock"
    HOME_ASSISTANT = "home_assistant"
    ZIGBEE2MQTT = "zigbee2mqtt"
    INTEGRATION = "integration"


_ROLE_NAMES = {
    Role.ORCHESTRATOR: ORCHESTRATOR,
    Role.CONTROLLER: CONTROLLER,
    Role.CLOCK: CLOCK,
    Role.HOME_ASSISTANT: HOME_ASSISTANT,
    Role.ZIGBEE2MQTT: ZIGBEE2MQTT,
    Role.INTEGRATION: INTEGRATION,
}

CONTROLLER_SEATS = 16
"""Controllers of one home that may be connected at once under HyperHome's logins (seats 1..16)."""
FLEET_SEATS = 2
"""The seats of a fleet home (``hyperhome fleet``): its driver logs in as the controller itself;
a seat is for a tool that watches the home from outside (a second for its restart). Each login
is one more for the broker to load: 16 seats were more than half of a fleet home's logins, and a
managed Mosquitto's start grows with the square of its logins."""


class Principal(BaseModel):
    """Who a login is: a role in one home (and which device, for a device)."""

    model_config = ConfigDict(frozen=True)

    home: str
    role: Role
    device: str | None = None
    seat: int | None = None
    """A controller's seat (1..CONTROLLER_SEATS), or None for the controller's own login."""
    discovery_prefix: str | None = None
    """Home Assistant's discovery prefix when the home speaks MQTT discovery (a device may then
    publish its own discovery configs and hear Home Assistant's birth message), else None."""
    ha_commands: tuple[str, ...] = ()
    """Home Assistant's login only: the ``{device}/{command}`` pairs its entities send (its
    discovery configs' command topics), the only commands it may publish."""

    @property
    def name(self) -> str:
        """The name used in topics: the device id or ``$orchestrator`` etc. (a seat's is ``$controller``)."""
        if self.role is Role.DEVICE:
            assert self.device is not None
            return self.device
        return _ROLE_NAMES[self.role]

    @property
    def username(self) -> str:
        """``{home}.{name}``, and ``-{seat}`` after a controller seat's."""
        seat = f"-{self.seat}" if self.seat is not None else ""
        return f"{self.home}.{self.name}{seat}"

    @classmethod
    def named(cls, home: str, name: str) -> Principal | None:
        """The principal called ``name`` (device id, ``$orchestrator``...) in ``home``, if valid."""
        return cls.from_username(f"{home}.{name}")

    @classmethod
    def from_username(cls, username: str) -> Principal | None:
        home, sep, name = username.partition(".")
        if not sep:
            return None
        for role, role_name in _ROLE_NAMES.items():
            if name == role_name:
                return cls(home=home, role=role)
        seat = _seat_of(name)
        if seat is not None:
            return cls(home=home, role=Role.CONTROLLER, seat=seat)
        try:
            check_id(home)
            check_id(name)
        except ConfigError:
            return None
        return cls(home=home, role=Role.DEVICE, device=name)


def _seat_of(name: str) -> int | None:
    """``3`` for ``$controller-3`` (seats 1..CONTROLLER_SEATS), else None."""
    prefix, sep, number = name.partition("-")
    if prefix != CONTROLLER or not sep or not number.isdigit() or number != str(int(number)):
        return None
    return int(number) if 1 <= int(number) <= CONTROLLER_SEATS else None


def client_id_of(home: str, name: str) -> str:
    """The MQTT client id of ``name`` (a device id, ``$orchestrator``, ``$clock``) in ``home``.

    ``{home}.{name}``, whatever login the client uses: the login may be shared by every client
    (a broker URL's), and a broker closes the older of two connections with one client id.
    """
    return f"{home}.{name}"


class Login(BaseModel):
    model_config = ConfigDict(frozen=True)

    username: str
    password: str = Field(repr=False)


def controller_seats(home: str, controller: Login, count: int = CONTROLLER_SEATS) -> list[tuple[Login, Principal]]:
    """The ``count`` seats of ``home``'s controller login, if it is HyperHome's ``{home}.$controller``
    (an operator's own controller login on a broker by URL has none): each
    ``{home}.$controller-{n}`` with the controller's password."""
    if controller.username != client_id_of(home, CONTROLLER):
        return []
    seats = [Principal(home=home, role=Role.CONTROLLER, seat=n) for n in range(1, min(count, CONTROLLER_SEATS) + 1)]
    return [(Login(username=who.username, password=controller.password), who) for who in seats]


def new_password() -> str:
    return secrets.token_urlsafe(18)


class TlsFiles(BaseModel):
    """TLS to the broker (``mqtts://``): the CA that signed its certificate, and our own, if any.

    Without ``ca_file`` the system's trusted CAs verify the broker. The broker's certificate must
    name the host connected to (hostname checking is always on). ``cert_file`` (with ``key_file``,
    unless the key is in the same file) is a client certificate for brokers that ask for one.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    def context(self) -> ssl.SSLContext:
        """The SSL context for every connection (made once); ConfigError if a file is unusable."""
        return _tls_context(self)


@functools.lru_cache(maxsize=8)
def _tls_context(files: TlsFiles) -> ssl.SSLContext:
    if files.key_file is not None and files.cert_file is None:
        msg = "--key-file needs --cert-file (the client certificate it is the key of)"
        raise ConfigError(msg)
    options = {"--ca-file": files.ca_file, "--cert-file": files.cert_file, "--key-file": files.key_file}
    for option, path in options.items():
        if path is not None and not path.is_file():
            msg = f"{option} {path}: no such file"
            raise ConfigError(msg)
    try:
        context = ssl.create_default_context(cafile=str(files.ca_file) if files.ca_file else None)
    except (ssl.SSLError, OSError) as exc:
        msg = f"--ca-file {files.ca_file}: not a PEM file of CA certificates ({_ssl_reason(exc)})"
        raise ConfigError(msg) from None
    if files.cert_file is not None:
        key = str(files.key_file) if files.key_file else None
        try:
            context.load_cert_chain(str(files.cert_file), key)
        except (ssl.SSLError, OSError) as exc:
            msg = f"--cert-file {files.cert_file}: not a PEM certificate with its key ({_ssl_reason(exc)})"
            raise ConfigError(msg) from None
    return context


def _ssl_reason(exc: Exception) -> str:
    return str(getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc)


class HomeAssistantLogin(Login):
    """The login a Home Assistant uses (``hyperhome up --home-assistant``), with what it may do:
    read the home's state, availability, events and stills, send ``commands``
    (``{device}/{command}``, the command topics of the discovery configs), and read and write
    its discovery and status topics under ``prefix``. ``client_id`` is the one MQTT client id
    the login may connect with (Home Assistant's MQTT options call it the client ID)."""

    prefix: str
    commands: list[str] = Field(default_factory=list)

    @property
    def client_id(self) -> str:
        return self.username


class HomeCredentials(BaseModel):
    """Where the broker is and every login of one home; the JSON of the credentials file."""

    host: str = "127.0.0.1"
    port: int = 1883
    home: str
    root: str = DEFAULT_ROOT
    controller: Login
    orchestrator: Login
    clock: Login
    integration: Login | None = None
    """The system under test's own login (``{home}.$integration``: a controller app's rights)."""
    devices: dict[str, Login] = Field(default_factory=dict)
    zigbee2mqtt: Login | None = None
    """The Zigbee2MQTT bridge's login (``hyperhome up --zigbee2mqtt``), or None when it does not run."""
    tls: TlsFiles | None = None
    """Set when the broker is reached over TLS (``mqtts://``); paths are absolute."""
    home_assistant: HomeAssistantLogin | None = None
    """Set when the home speaks Home Assistant's MQTT discovery (docs/home-assistant.md)."""
    seats: int = Field(CONTROLLER_SEATS, ge=0, le=CONTROLLER_SEATS)
    """How many controller seats the home's brokers hold (``$controller-1`` .. ``-{seats}``)."""

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
        zigbee2mqtt: bool = False,
    ) -> HomeCredentials:
        """Fresh random passwords for every client (or ``password`` for all of them); a login for
        the Zigbee2MQTT bridge when ``zigbee2mqtt``."""
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
            integration=login(Role.INTEGRATION),
            devices={check_id(d, "device"): login(Role.DEVICE, d) for d in devices},
            zigbee2mqtt=login(Role.ZIGBEE2MQTT) if zigbee2mqtt else None,
        )

    def add_device(self, device: str, password: str | None = None) -> Login:
        login = Login(
            username=Principal(home=self.home, role=Role.DEVICE, device=check_id(device)).username,
            password=password or new_password(),
        )
        self.devices[device] = login
        return login

    def add_home_assistant(self, prefix: str, commands: Iterable[str], password: str | None = None) -> None:
        """Give the home a Home Assistant login that may send ``commands`` (``{device}/{command}``)."""
        username = Principal(home=self.home, role=Role.HOME_ASSISTANT).username
        self.home_assistant = HomeAssistantLogin(
            username=username, password=password or new_password(), prefix=prefix, commands=sorted(set(commands))
        )

    def logins(self) -> list[tuple[Login, Principal]]:
        """Every login with the principal it stands for, the controller's seats included."""
        ha = self.home_assistant
        prefix = ha.prefix if ha is not None else None
        out: list[tuple[Login, Principal]] = [
            (self.controller, Principal(home=self.home, role=Role.CONTROLLER)),
            (self.orchestrator, Principal(home=self.home, role=Role.ORCHESTRATOR, discovery_prefix=prefix)),
            (self.clock, Principal(home=self.home, role=Role.CLOCK)),
        ]
        if self.integration is not None:
            out.append((self.integration, Principal(home=self.home, role=Role.INTEGRATION)))
        out += [
            (login, Principal(home=self.home, role=Role.DEVICE, device=d, discovery_prefix=prefix))
            for d, login in self.devices.items()
        ]
        if self.zigbee2mqtt is not None:
            out.append((self.zigbee2mqtt, Principal(home=self.home, role=Role.ZIGBEE2MQTT)))
        out += controller_seats(self.home, self.controller, self.seats)
        if ha is not None:
            who = Principal(
                home=self.home, role=Role.HOME_ASSISTANT, discovery_prefix=ha.prefix, ha_commands=tuple(ha.commands)
            )
            out.append((Login(username=ha.username, password=ha.password), who))
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
        except json.JSONDecodeError as exc:
            msg = f"credentials file {path} is not valid: {exc}"
            raise ConfigError(msg) from None
        except ValidationError as exc:  # without the input values: they may be passwords
            problems = format_validation_error(exc, top="(top level)")
            msg = f"credentials file {path} is not valid: {problems}"
            raise ConfigError(msg) from None


class FileLogin(Login):
    """One login in a logins file: a username and a password, nothing else."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    username: str = Field(min_length=1)
    password: str = Field(repr=False)


class ClientLogins(BaseModel):
    """One login per client on a broker given by URL: the ``--logins FILE`` (YAML or JSON).

    ```yaml
    orchestrator: {username: hh-orchestrator, password: "..."}
    controller: {username: hh-controller, password: "..."}   # the CLI, the web API, scenarios
    clock: {username: hh-clock, password: "..."}             # optional: the orchestrator's by default
    devices:
      living-ac: {username: hh-living-ac, password: "..."}
      phone: {username: hh-phone, password: "..."}
    ```

    Every device of the home needs its login (devices the home lacks are ignored, so one file
    may serve several homes). ``clock`` is the virtual clock's barrier coordinator, which only
    uses ``{root}/{home}/$sync/#``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    orchestrator: FileLogin
    controller: FileLogin
    clock: FileLogin | None = None
    devices: dict[str, FileLogin] = Field(default_factory=dict)
    _where: str = PrivateAttr(default="--logins")

    def located(self, where: str) -> ClientLogins:
        """Name the file (``FILE:LINE`` of its ``devices``) in the messages about it."""
        self._where = where
        return self

    @field_validator("devices")
    @classmethod
    def _device_ids(cls, value: dict[str, FileLogin]) -> dict[str, FileLogin]:
        for device in value:
            try:
                check_id(device, "device id")
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return value

    def missing(self, devices: Iterable[str]) -> list[str]:
        """The ``devices`` this file has no login for."""
        return [device for device in devices if device not in self.devices]

    def check(self, home: str, devices: Iterable[str]) -> None:
        """ConfigError (naming the file and line) unless every device of ``home`` has a login."""
        missing = self.missing(devices)
        if missing:
            names = ", ".join(repr(d) for d in missing)
            which = "device" if len(missing) == 1 else "devices"
            msg = f"{self._where}: devices: no login for {which} {names} of home {home!r}"
            raise ConfigError(msg)

    def apply(self, creds: HomeCredentials) -> HomeCredentials:
        """``creds`` with every login replaced by this file's."""
        self.check(creds.home, creds.devices)

        def plain(login: Login) -> Login:
            return Login(username=login.username, password=login.password)

        return creds.model_copy(
            update={
                "controller": plain(self.controller),
                "orchestrator": plain(self.orchestrator),
                "clock": plain(self.clock or self.orchestrator),
                "devices": {device: plain(self.devices[device]) for device in creds.devices},
                # the bridge drives devices and reads the home as a controller does
                "zigbee2mqtt": plain(self.controller) if creds.zigbee2mqtt is not None else None,
            }
        )

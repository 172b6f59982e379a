"""Choosing a broker: the embedded one, a managed Mosquitto, or one already running at a URL.

```python
choice = BrokerChoice.parse("mosquitto")            # or "embedded", "mqtt://user:pass@host:1883"
async with open_broker(choice, [creds]) as (ready,):
    ...                                             # ready.host / ready.port: where to connect
```

A URL's broker is the operator's. Its logins are one for every client (the URL's user and
password) or one per client (``logins``, the ``--logins FILE``); ``mqtts://`` connects over TLS,
trusting ``ca_file`` (or the system's CAs) and showing a client certificate if given one.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import SplitResult, unquote, urlsplit

from hyperhome.broker.credentials import ClientLogins, HomeCredentials, Login, TlsFiles
from hyperhome.broker.embedded import EmbeddedBroker
from hyperhome.broker.mosquitto import MosquittoBroker
from hyperhome.broker.restart import Restartable
from hyperhome.errors import ConfigError

BrokerKind = Literal["embedded", "mosquitto", "url"]
DEFAULT_MQTT_PORT = 1883
DEFAULT_MQTTS_PORT = 8883
_PORTS = {"mqtt": DEFAULT_MQTT_PORT, "mqtts": DEFAULT_MQTTS_PORT}
_FORMS = "'embedded', 'mosquitto', mqtt://[user[:password]@]host[:port] or mqtts://... (TLS)"
_PASSWORD_IN_URL = re.compile(r"(//[^/@:]*:)[^/]*@")  # up to the last @ of the authority


@dataclass(frozen=True, slots=True)
class BrokerChoice:
    """Which broker to use: ``kind``, and for a URL where it is and the logins to use there.

    ``username``/``password``: the URL's login, for every client. ``logins``: one per client
    instead. ``tls``: set for ``mqtts://``.
    """

    kind: BrokerKind
    host: str | None = None
    port: int | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: TlsFiles | None = None
    logins: ClientLogins | None = field(default=None, repr=False)

    @classmethod
    def parse(
        cls,
        text: str,
        *,
        logins: ClientLogins | None = None,
        ca_file: Path | None = None,
        cert_file: Path | None = None,
        key_file: Path | None = None,
    ) -> BrokerChoice:
        """``embedded``, ``mosquitto``, ``mqtt://user:pass@host:port`` (port 1883 by default) or
        ``mqtts://...`` (8883); the logins file and TLS files apply to a URL only."""
        value = text.strip()
        files = {"--ca-file": ca_file, "--cert-file": cert_file, "--key-file": key_file}
        if value in ("embedded", "mosquitto"):
            given = [option for option, path in {"--logins": logins, **files}.items() if path is not None]
            if given:
                verb = "applies" if len(given) == 1 else "apply"
                msg = f"{' and '.join(given)} {verb} to a broker URL only; {value!r} makes its own logins, in plain TCP"
                raise ConfigError(msg)
            return cls(kind=value)  # type: ignore[arg-type]
        choice = cls._from_url(value)
        if choice.tls is None and any(path is not None for path in files.values()):
            given = [option for option, path in files.items() if path is not None]
            verb = "needs" if len(given) == 1 else "need"
            msg = f"{' and '.join(given)} {verb} TLS: use mqtts:// instead of {choice.describe()}"
            raise ConfigError(msg)
        if logins is not None and choice.username is not None:
            msg = f"the logins come from --logins or from the URL ({choice.describe()}), not from both"
            raise ConfigError(msg)
        tls = None
        if choice.tls is not None:
            tls = TlsFiles(ca_file=_absolute(ca_file), cert_file=_absolute(cert_file), key_file=_absolute(key_file))
            tls.context()  # a missing or bad file fails here, before anything starts
        return cls(choice.kind, choice.host, choice.port, choice.username, choice.password, tls, logins)

    @classmethod
    def _from_url(cls, value: str) -> BrokerChoice:
        url = _split(value)
        if url.scheme not in _PORTS:
            msg = f"broker {_mask(value)!r} is not understood; use {_FORMS}"
            raise ConfigError(msg)
        if not url.hostname or url.path not in ("", "/") or url.query or url.fragment:
            msg = f"broker URL {_mask(value)!r} must be {url.scheme}://[user[:password]@]host[:port] and nothing more"
            raise ConfigError(msg)
        if url.password is not None and not url.username:
            msg = f"broker URL {_mask(value)!r} has a password but no user name"
            raise ConfigError(msg)
        return cls(
            kind="url",
            host=url.hostname,
            port=_port(url, value),
            username=unquote(url.username) if url.username else None,
            password=unquote(url.password) if url.password is not None else None,
            tls=TlsFiles() if url.scheme == "mqtts" else None,
        )

    @property
    def enforces_contract(self) -> bool:
        """Whether the broker enforces the contract's access control (HyperHome runs it)."""
        return self.kind != "url"

    def check_home(self, home: str, devices: Iterable[str]) -> None:
        """ConfigError if this choice cannot log every client of ``home`` in (a logins file lacks one)."""
        if self.logins is not None:
            self.logins.check(home, devices)

    def describe(self) -> str:
        """For people: what runs where, never the password."""
        match self.kind:
            case "embedded":
                return "embedded (amqtt, in-process)"
            case "mosquitto":
                return "mosquitto (managed child process)"
            case "url":
                scheme = "mqtt" if self.tls is None else "mqtts"
                user = f"{self.username}@" if self.username else ""
                host = f"[{self.host}]" if self.host and ":" in self.host else self.host
                logins = " (a login per client)" if self.logins is not None else ""
                return f"{scheme}://{user}{host}:{self.port}{logins}"


def _split(value: str) -> SplitResult:
    try:
        return urlsplit(value)
    except ValueError as exc:
        msg = f"broker {_mask(value)!r} is not understood ({exc}); use {_FORMS}"
        raise ConfigError(msg) from None


def _port(url: SplitResult, value: str) -> int:
    try:
        port = url.port
    except ValueError:
        port = 0
    if port == 0:
        msg = f"broker URL {_mask(value)!r} has an invalid port (1-65535)"
        raise ConfigError(msg)
    return port or _PORTS[url.scheme]


def _mask(text: str) -> str:
    """``text`` with the password of a URL in it replaced by ``***``."""
    return _PASSWORD_IN_URL.sub(r"\1***@", text)


def _absolute(path: Path | None) -> Path | None:
    return None if path is None else path.expanduser().absolute()


@asynccontextmanager
async def open_broker(
    choice: BrokerChoice, homes: list[HomeCredentials], *, port: int | None = None
) -> AsyncIterator[list[HomeCredentials]]:
    """Start the chosen broker for ``homes`` and yield their credentials, with host and port filled in.

    ``embedded`` and ``mosquitto`` start a broker on 127.0.0.1 (on ``port``, or a free one) that
    enforces the contract's access control with every home's own logins; it stops on exit.

    A URL starts nothing: the broker is already running elsewhere. Every login of every home is
    replaced by the logins file's, or by the URL's user name and password (with neither, the
    generated logins are kept, which an open broker ignores). What each client may do there is
    then up to whoever runs that broker: its access control is the operator's business, not
    HyperHome's. Client ids stay one per client whatever the login (``client_id_of``).
    """
    async with launch_broker(choice, homes, port=port) as (ready, _broker):
        yield ready


@asynccontextmanager
async def launch_broker(
    choice: BrokerChoice, homes: list[HomeCredentials], *, port: int | None = None
) -> AsyncIterator[tuple[list[HomeCredentials], Restartable | None]]:
    """``open_broker``, also yielding the broker it started (``None`` for a URL: nothing to restart)."""
    if choice.kind == "url":
        if port is not None:
            msg = f"a port option does not apply to a broker URL; put the port in the URL ({choice.describe()})"
            raise ConfigError(msg)
        yield [_at_url(choice, creds) for creds in homes], None
        return
    broker = EmbeddedBroker(homes, port=port) if choice.kind == "embedded" else MosquittoBroker(homes, port=port)
    async with broker:
        assert broker.port is not None
        yield [creds.model_copy(update={"host": broker.host, "port": broker.port}) for creds in homes], broker


def _at_url(choice: BrokerChoice, creds: HomeCredentials) -> HomeCredentials:
    assert choice.host is not None
    assert choice.port is not None
    # the operator's broker knows none of HyperHome's own logins for outside systems: the system
    # under test uses the controller's (TestHome.login says so)
    update: dict[str, object] = {"host": choice.host, "port": choice.port, "tls": choice.tls, "integration": None}
    if choice.logins is not None:
        return choice.logins.apply(creds).model_copy(update=update)
    if choice.username is not None:
        login = Login(username=choice.username, password=choice.password or "")
        update |= {"controller": login, "orchestrator": login, "clock": login}
        update["devices"] = dict.fromkeys(creds.devices, login)
        if creds.zigbee2mqtt is not None:
            update["zigbee2mqtt"] = login
    return creds.model_copy(update=update)

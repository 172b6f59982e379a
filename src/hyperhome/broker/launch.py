"""Choosing a broker: the embedded one, a managed Mosquitto, or one already running at a URL.

```python
choice = BrokerChoice.parse("mosquitto")            # or "embedded", "mqtt://user:pass@host:1883"
async with open_broker(choice, [creds]) as (ready,):
    ...                                             # ready.host / ready.port: where to connect
```
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import SplitResult, unquote, urlsplit

from hyperhome.broker.credentials import HomeCredentials, Login
from hyperhome.broker.embedded import EmbeddedBroker
from hyperhome.broker.mosquitto import MosquittoBroker
from hyperhome.errors import ConfigError

BrokerKind = Literal["embedded", "mosquitto", "url"]
DEFAULT_MQTT_PORT = 1883
_FORMS = "'embedded', 'mosquitto' or mqtt://[user[:password]@]host[:port]"


@dataclass(frozen=True, slots=True)
class BrokerChoice:
    """Which broker to use: ``kind``, and for a URL where it is and the one login to use there."""

    kind: BrokerKind
    host: str | None = None
    port: int | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, text: str) -> BrokerChoice:
        """``embedded``, ``mosquitto`` or ``mqtt://user:pass@host:port`` (port 1883 by default)."""
        value = text.strip()
        if value in ("embedded", "mosquitto"):
            return cls(kind=value)  # type: ignore[arg-type]
        return cls._from_url(value)

    @classmethod
    def _from_url(cls, value: str) -> BrokerChoice:
        url = _split(value)
        if url.scheme != "mqtt":
            msg = f"broker {value!r} is not understood; use {_FORMS}"
            raise ConfigError(msg)
        if not url.hostname or url.path not in ("", "/") or url.query or url.fragment:
            msg = f"broker URL {_redacted(url)!r} must be mqtt://[user[:password]@]host[:port] and nothing more"
            raise ConfigError(msg)
        if url.password is not None and not url.username:
            msg = f"broker URL {_redacted(url)!r} has a password but no user name"
            raise ConfigError(msg)
        return cls(
            kind="url",
            host=url.hostname,
            port=_port(url),
            username=unquote(url.username) if url.username else None,
            password=unquote(url.password) if url.password is not None else None,
        )

    def describe(self) -> str:
        """For people: what runs where, never the password."""
        match self.kind:
            case "embedded":
                return "embedded (amqtt, in-process)"
            case "mosquitto":
                return "mosquitto (managed child process)"
            case "url":
                user = f"{self.username}@" if self.username else ""
                host = f"[{self.host}]" if self.host and ":" in self.host else self.host
                return f"mqtt://{user}{host}:{self.port}"


def _split(value: str) -> SplitResult:
    try:
        return urlsplit(value)
    except ValueError as exc:
        msg = f"broker {value!r} is not understood ({exc}); use {_FORMS}"
        raise ConfigError(msg) from None


def _port(url: SplitResult) -> int:
    try:
        port = url.port
    except ValueError:
        msg = f"broker URL {_redacted(url)!r} has an invalid port (1-65535)"
        raise ConfigError(msg) from None
    if port == 0:
        msg = f"broker URL {_redacted(url)!r} has an invalid port (1-65535)"
        raise ConfigError(msg)
    return port or DEFAULT_MQTT_PORT


def _redacted(url: SplitResult) -> str:
    if url.password is None:
        return url.geturl()
    netloc = url.netloc.replace(f":{url.password}@", ":***@", 1)
    return url._replace(netloc=netloc).geturl()


@asynccontextmanager
async def open_broker(
    choice: BrokerChoice, homes: list[HomeCredentials], *, port: int | None = None
) -> AsyncIterator[list[HomeCredentials]]:
    """Start the chosen broker for ``homes`` and yield their credentials, with host and port filled in.

    ``embedded`` and ``mosquitto`` start a broker on 127.0.0.1 (on ``port``, or a free one) that
    enforces the contract's access control with every home's own logins; it stops on exit.

    A URL starts nothing: the broker is already running elsewhere. Every login of every home is
    replaced by the URL's user name and password (if the URL has none, the generated logins are
    kept, which an open broker ignores). What each client may do there is then up to whoever
    runs that broker: its access control is the operator's business, not HyperHome's.
    """
    if choice.kind == "url":
        if port is not None:
            msg = f"a port option does not apply to a broker URL; put the port in the URL ({choice.describe()})"
            raise ConfigError(msg)
        yield [_at_url(choice, creds) for creds in homes]
        return
    broker = EmbeddedBroker(homes, port=port) if choice.kind == "embedded" else MosquittoBroker(homes, port=port)
    async with broker:
        assert broker.port is not None
        yield [creds.model_copy(update={"host": broker.host, "port": broker.port}) for creds in homes]


def _at_url(choice: BrokerChoice, creds: HomeCredentials) -> HomeCredentials:
    assert choice.host is not None
    assert choice.port is not None
    update: dict[str, object] = {"host": choice.host, "port": choice.port}
    if choice.username is not None:
        login = Login(username=choice.username, password=choice.password or "")
        update |= {"controller": login, "orchestrator": login, "clock": login}
        update["devices"] = dict.fromkeys(creds.devices, login)
    return creds.model_copy(update=update)

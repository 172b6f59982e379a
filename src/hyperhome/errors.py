"""Every error HyperHome raises on purpose.

Errors from lower libraries (aiomqtt, paho-mqtt, amqtt, pydantic, PyYAML, the OS) are turned
into these at the boundary where they happen, so callers catch one tree::

    HyperHomeError
    ├── ConfigError              a home file, credentials file, broker URL or option is wrong
    ├── BusError                 anything about talking to the broker
    │   ├── ConnectError         could not connect (refused, wrong password, unreachable)
    │   ├── NotConnectedError    an operation needs a connection the client does not have
    │   └── ForbiddenError       the broker refused a subscription (access control)
    ├── BrokerError              an embedded or managed broker could not start or stop
    ├── CommandError             a device answered a command with ``ok: false``
    │                            (``.code`` is one of the wire error codes)
    └── ClockError               misuse of a clock (e.g. waiting on a stopped one)

``TimeoutError`` (the builtin) is used for every bounded wait, in wall or simulated time.
"""

from __future__ import annotations


class HyperHomeError(Exception):
    """Base of every error HyperHome raises on purpose."""


class ConfigError(HyperHomeError):
    """A home file, credentials file, broker URL or option is wrong."""


class BusError(HyperHomeError):
    """Talking to the broker failed."""


class ConnectError(BusError):
    """Could not connect to the broker (refused, bad credentials, unreachable)."""


class NotConnectedError(BusError):
    """The operation needs a live connection and there is none."""


class ForbiddenError(BusError):
    """The broker refused an operation because of access control."""


class BrokerError(HyperHomeError):
    """An embedded or managed broker could not start or stop."""


class CommandError(HyperHomeError):
    """A command was answered with an error reply."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class ClockError(HyperHomeError):
    """A clock was used in a way it does not support."""

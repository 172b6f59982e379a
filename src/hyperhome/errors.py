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
    ├── CommandError             a command refused with a wire error code (``.code``, an
    │                            ``ErrorCode``) and a message (``.message``)
    └── ClockError               misuse of a clock (e.g. waiting on a stopped one)

``TimeoutError`` (the builtin) is used for every bounded wait, in wall or simulated time.

Wire errors are one family, both ways: whatever handles a command (a device's handler, a flow
kind's ``check``, an orchestrator service, the orchestrator itself) raises ``CommandError(code,
message)``, and the command endpoint (``hyperhome.broker.commands``) turns it into the
``ok: false`` reply, in one place; whoever sends a command and gets ``ok: false`` back
(``Requester.send``, ``Controller.send``) raises the same ``CommandError`` (``.reply`` holds the
reply). The web API answers it with the HTTP status of its code.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hyperhome.broker.wire import Reply


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


class ErrorCode(StrEnum):
    """The error codes of a reply (docs/protocol.md, "Commands and replies")."""

    BAD_REQUEST = "bad_request"
    """Not a command: not JSON, not an object, or an id already used for another command."""
    UNKNOWN_COMMAND = "unknown_command"
    INVALID_ARGS = "invalid_args"
    REJECTED = "rejected"
    """Well-formed but not allowed now (unlock while jammed, a second flow on what a running one holds)."""
    FORBIDDEN = "forbidden"
    """The sender, or the user it speaks for, may not do this."""
    INTERNAL = "internal"


class CommandError(HyperHomeError):
    """A command refused: a wire error code and a message a user can act on.

    Raise it from anything that handles a command; the command endpoint answers it with
    ``{"ok": false, "error": {"code", "message"}}``. ``keep_state`` (devices only): the state the
    handler changed is kept and published instead of rolled back, for a refusal that is itself an
    event the device must remember (a wrong PIN counts towards a lockout).
    """

    def __init__(self, code: ErrorCode, message: str, *, keep_state: bool = False, reply: Reply | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.keep_state = keep_state
        self.reply = reply  # the error reply it came in, when it was received rather than raised here

    @classmethod
    def from_reply(cls, reply: Reply) -> CommandError:
        """The error an ``ok: false`` reply carries."""
        if reply.error is None:
            msg = f"the reply to {reply.command} ({reply.id}) is not an error"
            raise ValueError(msg)
        return cls(reply.error.code, reply.error.message, reply=reply)


class ClockError(HyperHomeError):
    """A clock was used in a way it does not support."""

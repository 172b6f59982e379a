"""What every ``hyperhome`` command shares: options, the one ``error:`` line, Ctrl-C, a controller.

A mistake the user can fix (a home or scenario file, an option, a credentials file, a home that
is not running) is one ``error:`` line with the file, line and field where there is a file, and
exit code 2, from every command; ``Commands`` turns any ``HyperHomeError`` into that.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator, Coroutine
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperCommand, TyperGroup

from hyperhome.broker.client import Endpoint, MqttConnector
from hyperhome.broker.credentials import HomeCredentials
from hyperhome.broker.launch import BrokerChoice
from hyperhome.broker.topics import Topics
from hyperhome.errors import ConnectError, HyperHomeError
from hyperhome.home.loginsfile import load_logins
from hyperhome.orchestrator.controller import Controller

T = TypeVar("T")


class FleetJoin(StrEnum):
    """``--join`` of ``fleet`` and ``bench fleet``: the values of ``fleet.plan.JOINS``."""

    ANYTIME = "anytime"
    EPISODE = "episode"


class PlainHelp:
    """Help that reads as a command line: a flag shows no value (Typer prints ``<bool>``, as if
    ``--quiet true`` were the way to write it) and the usage line names arguments as click does
    (``SCENARIO...``, ``[JSON]``), not ``{SCENARIO...}...``."""

    options_metavar: str | None

    def get_params(self, ctx: Any) -> list[Any]:
        params: list[Any] = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            if getattr(param, "is_flag", False):
                param.metavar = ""
        return params

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name != "argument":
                continue
            name = param.metavar or param.name.upper()
            if param.nargs != 1 and not name.endswith("..."):
                name += "..."
            pieces.append(name if param.required else f"[{name}]")
        return pieces


class Command(PlainHelp, TyperCommand):
    """One command, with plain help."""


class Commands(PlainHelp, TyperGroup):
    """The commands; a ``HyperHomeError`` from any of them is one ``error:`` line and exit 2."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return [*super().collect_usage_pieces(ctx), self.subcommand_metavar]

    def invoke(self, ctx: Any) -> Any:  # a click Context (recent Typers vendor their own click)
        try:
            return super().invoke(ctx)
        except HyperHomeError as exc:
            raise fail(str(exc)) from None


console = Console()
errors = Console(stderr=True, soft_wrap=True)  # an error line stays whole: paths copy and paste


def default_credentials_path() -> Path:
    env = os.environ.get("HYPERHOME_CREDENTIALS")
    if env:
        return Path(env)
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "hyperhome" / "credentials.json"


HomeOpt = Annotated[str, typer.Option("--home", help="Home file, or the name of a shipped home.")]
BrokerOpt = Annotated[
    str,
    typer.Option(
        "--broker",
        help="embedded (amqtt in-process), mosquitto (managed child), or a URL: mqtt://user:pass@host:port, "
        "or mqtts://... for TLS (port 8883 by default) (docs/point-at-mosquitto.md)",
    ),
]
LoginsOpt = Annotated[
    Path | None,
    typer.Option(
        "--logins",
        help="With a broker URL: a YAML or JSON file with a login per client (orchestrator, controller, "
        "each device) instead of the URL's one login (docs/point-at-mosquitto.md).",
    ),
]
CaFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--ca-file",
        help="With mqtts://: the CA certificate(s) that signed the broker's, PEM (default: the system's CAs).",
    ),
]
CertFileOpt = Annotated[
    Path | None, typer.Option("--cert-file", help="With mqtts://: a client certificate (PEM) to log in with.")
]
KeyFileOpt = Annotated[
    Path | None, typer.Option("--key-file", help="With --cert-file: its private key, if not in the same file.")
]
PortOpt = Annotated[int | None, typer.Option("--port", help="Broker port (default: a free one).")]
CredsOpt = Annotated[
    Path | None,
    typer.Option(
        "--credentials",
        help="Credentials file [default: $HYPERHOME_CREDENTIALS or ~/.local/state/hyperhome/credentials.json]",
    ),
]


def broker_choice(
    broker: str,
    logins: Path | None = None,
    ca_file: Path | None = None,
    cert_file: Path | None = None,
    key_file: Path | None = None,
) -> BrokerChoice:
    """The ``--broker`` option and the options that go with a URL, checked (ConfigError)."""
    loaded = load_logins(logins) if logins is not None else None
    return BrokerChoice.parse(broker, logins=loaded, ca_file=ca_file, cert_file=cert_file, key_file=key_file)


def fail(message: str, code: int = 2) -> typer.Exit:
    errors.print(f"[bold red]error:[/] {escape(message)}")
    return typer.Exit(code)


def run_until_done(main: Coroutine[Any, Any, T], *, interrupted: str | None = None) -> T | None:
    """Run a coroutine to its result; Ctrl-C and SIGTERM stop it cleanly (then None).

    ``interrupted``: for a command that is not meant to run until Ctrl-C, what to tell the user
    then (what it was waiting for, what to check); it exits 130, as a shell expects.
    """

    async def guarded() -> T:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError):  # Ctrl-C too: a clean cancellation, not KeyboardInterrupt
            for signum in (signal.SIGINT, signal.SIGTERM):  # raised wherever the loop happens to be
                loop.add_signal_handler(signum, task.cancel)
        return await main

    try:
        return asyncio.run(guarded())
    except (KeyboardInterrupt, asyncio.CancelledError):
        if interrupted is None:
            console.print("[dim]stopped[/]")
            return None
        errors.print(f"interrupted: {escape(interrupted)}")
        raise typer.Exit(130) from None


def controller_of(creds: HomeCredentials) -> Controller:
    return Controller(MqttConnector(Endpoint.of(creds)), creds.controller, Topics(creds.home, creds.root))


@contextlib.asynccontextmanager
async def connected(creds: HomeCredentials, path: Path) -> AsyncIterator[Controller]:
    """A controller of the home whose credentials were read from ``path``; a broker that does not
    answer is a ConnectError saying that the home may have stopped."""
    async with contextlib.AsyncExitStack() as stack:
        try:
            ctl = await stack.enter_async_context(controller_of(creds))
        except ConnectError as exc:
            msg = f"{exc} (is `hyperhome up` running? {path} names this broker)"
            raise ConnectError(msg) from None
        yield ctl


def waiting_for(creds: HomeCredentials, path: Path) -> str:
    return (
        f"stopped while waiting for the home {creds.home!r} on {creds.host}:{creds.port}; if it does not "
        f"answer, check that `hyperhome up` is running and that {path} is the file it wrote"
    )

"""``hyperhome clock advance 10m``: move a manual clock (``hyperhome up --clock manual``).

It sends ``$clock/cmd/advance`` as a controller and waits for the reply, which comes once the
step is done and the home is quiet (docs/protocol.md, "Manual clock"). A home that is not on a
manual clock has nothing answering ``$clock``: the command then times out (exit 1).
"""

from __future__ import annotations

from typing import Annotated

import typer

from hyperhome.broker.credentials import HomeCredentials
from hyperhome.broker.topics import CLOCK
from hyperhome.broker.wire import Reply
from hyperhome.cli.common import (
    Command,
    Commands,
    CredsOpt,
    connected,
    console,
    default_credentials_path,
    fail,
    run_until_done,
    waiting_for,
)
from hyperhome.durations import parse_duration
from hyperhome.errors import ConnectError, NotConnectedError
from hyperhome.orchestrator.clockcmd import ADVANCE

clock_app = typer.Typer(
    name="clock", cls=Commands, no_args_is_help=True, help="Control a manual clock (`hyperhome up --clock manual`)."
)


@clock_app.command("advance", cls=Command)
def advance(
    by: Annotated[str, typer.Argument(help="How much simulated time: 10m, 1h30m, 90s, 500ms.")],
    credentials: CredsOpt = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Wall seconds to wait for the step to be done.", min=0.1)
    ] = 120.0,
) -> None:
    """Advance the home's manual clock and print where it stands; exit 1 when the home stayed busy."""
    try:
        parse_duration(by)
    except ValueError as exc:
        raise fail(str(exc)) from None
    creds_path = credentials or default_credentials_path()
    creds = HomeCredentials.load(creds_path)

    async def main() -> Reply:
        try:
            async with connected(creds, creds_path) as ctl:
                return await ctl.request(CLOCK, ADVANCE, {"by": by}, timeout_s=timeout)
        except (ConnectError, NotConnectedError) as exc:
            msg = f"not_connected: the clock was not advanced: {exc}"
            raise fail(msg) from None
        except TimeoutError:
            msg = f"timeout: no answer from the clock within {timeout:g} s (is the home up with --clock manual?)"
            raise fail(msg, 1) from None

    reply = run_until_done(main(), interrupted=waiting_for(creds, creds_path))
    if reply is None:
        raise typer.Exit(1)
    console.print_json(reply.to_payload().decode())
    if not reply.ok:
        raise typer.Exit(1)

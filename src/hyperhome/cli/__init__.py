"""The ``hyperhome`` command line (Typer + Rich): the top layer, one module per command group.

``common`` holds what every command shares (options, the one ``error:`` line, Ctrl-C); ``home``
has ``up`` and ``broker``, ``devices`` has ``devices`` and ``send``, ``scenarios`` has ``run`` and
``scenarios``, ``bench`` has ``bench``. Each is a plain function, registered here; nothing below
this package imports it (tests/unit/test_import_graph.py).

A mistake the user can fix (a home or scenario file, an option, a credentials file, a home that
is not running) is one ``error:`` line with the file, line and field where there is a file, and
exit code 2, from every command; ``Commands`` turns any ``HyperHomeError`` into that.
"""

from __future__ import annotations

from typing import Annotated

import typer

from hyperhome import __version__
from hyperhome.cli import devices, fleet, home, scenarios
from hyperhome.cli.bench import bench
from hyperhome.cli.clock import clock_app
from hyperhome.cli.common import Command, Commands, console

app = typer.Typer(
    name="hyperhome",
    cls=Commands,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",  # docstrings reflow into paragraphs, ``code`` shows as code
    help="HyperHome: a smart-home and Human x Car x Home emulator over a real MQTT broker.",
)


@app.callback(invoke_without_command=True)
def _root(version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False) -> None:
    if version:
        console.print(f"hyperhome {__version__}")
        raise typer.Exit


app.command(cls=Command)(home.up)
app.command("broker", cls=Command)(home.broker_cmd)
app.command(cls=Command)(devices.devices)
app.command(cls=Command)(devices.send)
app.command("scenarios", cls=Command)(scenarios.scenarios_cmd)
app.command(cls=Command)(scenarios.run)
app.command("bench", cls=Command)(bench)
app.command(cls=Command)(fleet.fleet)
app.add_typer(clock_app)


def main() -> None:
    app(prog_name="hyperhome")  # the same name in help from ``python -m hyperhome``

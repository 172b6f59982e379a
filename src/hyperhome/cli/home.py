"""``hyperhome up`` and ``hyperhome broker``: a home (or its broker alone) until Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import re
import socket
from pathlib import Path
from typing import Annotated

import typer
from rich.panel import Panel
from rich.table import Table

from hyperhome.broker.credentials import HomeCredentials
from hyperhome.broker.launch import BrokerChoice, open_broker
from hyperhome.broker.topics import DEFAULT_HA_PREFIX, ROOT_PATTERN, Topics
from hyperhome.cli.common import (
    BrokerOpt,
    CaFileOpt,
    CertFileOpt,
    CredsOpt,
    HomeOpt,
    KeyFileOpt,
    LoginsOpt,
    PortOpt,
    broker_choice,
    console,
    default_credentials_path,
    fail,
    run_until_done,
)
from hyperhome.conventions.zigbee2mqtt import BASE
from hyperhome.devices.clock import Clock
from hyperhome.durations import parse_duration
from hyperhome.errors import ConfigError, HyperHomeError
from hyperhome.home.homefile import load_home, rules_of
from hyperhome.home.lock import credentials_lock
from hyperhome.home.runtime import Home


def up(
    home: HomeOpt = "demo",
    broker: BrokerOpt = "embedded",
    logins: LoginsOpt = None,
    ca_file: CaFileOpt = None,
    cert_file: CertFileOpt = None,
    key_file: KeyFileOpt = None,
    port: PortOpt = None,
    speed: Annotated[float, typer.Option("--speed", help="Simulated seconds per wall second.", min=0.001)] = 1.0,
    clock: Annotated[
        str,
        typer.Option(
            "--clock",
            help="scaled (real time times --speed) or manual: time stands still until advanced "
            "(`hyperhome clock advance`, POST /api/clock/advance, $clock/cmd/advance; docs/test-your-code.md).",
        ),
    ] = "scaled",
    settle: Annotated[
        str, typer.Option("--settle", help="With --clock manual: real time without traffic that counts as quiet.")
    ] = "50ms",
    credentials: CredsOpt = None,
    password: Annotated[
        str | None, typer.Option("--password", help="One password for every login instead of random ones.")
    ] = None,
    api_port: Annotated[
        int,
        typer.Option(
            "--api-port", help="Port of the web API and dashboard on 127.0.0.1 (0: any free port).", min=0, max=65535
        ),
    ] = 8000,
    no_api: Annotated[bool, typer.Option("--no-api", help="Do not serve the web API and dashboard.")] = False,
    grammar: Annotated[
        list[Path] | None,
        typer.Option("--grammar", help="A voice grammar file merged over the home's (docs/voice.md); repeatable."),
    ] = None,
    faults: Annotated[
        bool,
        typer.Option(
            "--faults", help="Put a fault proxy in front of each device's link (POST /api/faults, docs/web.md)."
        ),
    ] = False,
    home_assistant: Annotated[
        bool,
        typer.Option(
            "--home-assistant",
            help="Publish Home Assistant MQTT discovery and add a home_assistant login (docs/home-assistant.md).",
        ),
    ] = False,
    ha_prefix: Annotated[
        str,
        typer.Option("--home-assistant-prefix", help="Home Assistant's discovery prefix (implies --home-assistant)."),
    ] = DEFAULT_HA_PREFIX,
    zigbee2mqtt: Annotated[
        bool,
        typer.Option("--zigbee2mqtt", help="Also speak Zigbee2MQTT's topics (zigbee2mqtt/...; docs/conventions.md)."),
    ] = False,
) -> None:
    """Bring a home up: broker, devices, orchestrator, web API and dashboard, until Ctrl-C.

    A start that fails changes nothing: the credentials file is claimed first (one ``up`` per
    file), every port is bound before anything is written, and the file is written last.
    """
    plan = load_home(home)
    if clock not in ("scaled", "manual"):
        msg = f"--clock {clock!r}: write scaled or manual"
        raise fail(msg)
    try:
        settle_s = parse_duration(settle)
    except ValueError as exc:
        msg = f"--settle: {exc}"
        raise fail(msg) from None
    try:
        choice = broker_choice(broker, logins, ca_file, cert_file, key_file)
        choice.check_home(plan.home, [d.id for d in plan.devices])
    except HyperHomeError as exc:
        raise fail(str(exc)) from None
    creds_path = credentials or default_credentials_path()
    wants_ha = home_assistant or ha_prefix != DEFAULT_HA_PREFIX or plan.home_assistant
    if wants_ha and re.fullmatch(ROOT_PATTERN, ha_prefix) is None:
        msg = f"--home-assistant-prefix {ha_prefix!r} must match {ROOT_PATTERN}"
        raise fail(msg)

    async def main(api: socket.socket | None) -> None:
        async with (
            Home(
                plan,
                broker=choice,
                port=port,
                speed=speed,
                password=password,
                grammar=grammar or (),
                faults=faults,
                home_assistant=ha_prefix if wants_ha else None,
                zigbee2mqtt=zigbee2mqtt or None,
                manual=clock == "manual",
                settle_s=settle_s,
            ) as running,
            contextlib.AsyncExitStack() as stack,
        ):
            assert running.credentials is not None
            # what start-up built lives until the end: keep it out of the full collections, which
            # otherwise stall a big home for 0.5-0.7 s at a time (docs/BENCHMARKS.md, density)
            gc.collect()
            gc.freeze()
            url = None if api is None else await stack.enter_async_context(_serve_api(running, api))
            _save(running.credentials, creds_path)
            _print_up(running, creds_path, url)
            await asyncio.Event().wait()

    with credentials_lock(creds_path, "up"):
        api = None if no_api else _bind_api(api_port)
        run_until_done(main(api))


def _bind_api(port: int) -> socket.socket:
    # imported here: FastAPI and uvicorn add about half a second to every other command's start
    from hyperhome.web.serve import bind

    return bind(port)


def _save(creds: HomeCredentials, path: Path) -> None:
    try:
        creds.save(path)
    except OSError as exc:
        msg = f"cannot write the credentials file {path}: {exc.strerror or exc}"
        raise ConfigError(msg) from None


def _serve_api(running: Home, sock: socket.socket) -> contextlib.AbstractAsyncContextManager[str]:
    """The web API and dashboard of ``running`` on ``sock`` (bound on 127.0.0.1), in this event loop."""
    from hyperhome.web import HomeLink, create_app, serve
    from hyperhome.web.scenario_runs import WebRuns

    assert running.connect is not None
    assert running.credentials is not None
    link = HomeLink(
        running.connect,
        running.credentials.controller,
        running.topics,
        name=running.plan.name or running.plan.home,
        clock=running.clock,
    )
    return serve(create_app(link, runs=WebRuns(), faults=running.faults), sock=sock)


def _describe_clock(clock: Clock) -> str:
    """``real time``, ``scaled x60 (60 simulated seconds per second)`` or ``virtual``."""
    speed = getattr(clock, "speed", None)
    if clock.mode == "scaled" and speed is not None:
        return f"scaled x{speed:g} ({speed:g} simulated seconds per second)"
    return "real time" if clock.mode == "realtime" else clock.mode


def _print_up(running: Home, creds_path: Path, url: str | None = None) -> None:
    creds = running.credentials
    assert creds is not None
    table = Table("device", "kind", "room", "owner", title=f"home [bold]{creds.home}[/]", title_justify="left")
    for spec in running.plan.devices:
        table.add_row(spec.id, spec.kind, spec.room or "", spec.owner or "")
    ctl = creds.controller
    topic = Topics(creds.home, creds.root)
    tls = creds.tls
    tls_options = ""
    if tls is not None:
        tls_options = f"--cafile '{tls.ca_file}' " if tls.ca_file else "--capath /etc/ssl/certs "
        tls_options += f"--cert '{tls.cert_file}' " if tls.cert_file else ""
        tls_options += f"--key '{tls.key_file}' " if tls.key_file else ""
    console.print(
        Panel.fit(
            f"broker      [bold]{running.choice.describe()}[/] listening on [bold]{creds.host}:{creds.port}[/]\n"
            f"clock       {_describe_clock(running.clock)}\n"
            f"automations {len(rules_of(running.plan))} rules (hyperhome send '$orchestrator' automation.list)\n"
            + (_faults_line(running, url) if running.faults is not None else "")
            + _home_assistant_line(running, creds_path)
            + (f"zigbee2mqtt {BASE}/# as login {creds.zigbee2mqtt.username}\n" if creds.zigbee2mqtt else "")
            + f"credentials {creds_path} (mode 0600)\n"
            + (f"dashboard   [bold]{url}[/] (API docs at {url}docs)\n\n" if url else "\n")
            + f"watch:  mosquitto_sub -h {creds.host} -p {creds.port} {tls_options}"
            f"-u '{ctl.username}' -i '{ctl.username}' "
            f"-P \"$(jq -r .controller.password {creds_path})\" -t '{topic.everything}' -v\n"
            f'drive:  hyperhome send living-ac set \'{{"power": true, "target_c": 24}}\'',
            title="HyperHome is up",
            border_style="green",
        )
    )
    console.print(table)
    console.print("[dim]Ctrl-C to stop[/]")


def _home_assistant_line(running: Home, creds_path: Path) -> str:
    if running.ha_prefix is None:
        return ""
    creds = running.credentials
    login = creds.home_assistant if creds is not None else None
    who = f"login {login.username} (jq -r .home_assistant.password {creds_path})" if login else "the broker's logins"
    count = sum(len(d.topics) for d in running.discovery.values())
    return f"home assistant {count} entities under {running.ha_prefix}/; {who}; docs/home-assistant.md\n"


def _faults_line(running: Home, url: str | None) -> str:
    assert running.faults is not None
    ports = ", ".join(f"{link.device} :{link.port}" for link in running.faults.links())
    where = f"POST {url}api/faults" if url else "no web API to set them (--no-api)"
    return f"faults      a proxy per device link ({ports}); {where}\n"


def broker_cmd(
    home: HomeOpt = "demo",
    port: PortOpt = None,
    credentials: CredsOpt = None,
    password: Annotated[str | None, typer.Option("--password", help="One password for every login.")] = None,
) -> None:
    """Run the embedded broker alone, with the logins and access control of a home."""
    plan = load_home(home)
    creds_path = credentials or default_credentials_path()

    async def main() -> None:
        creds = HomeCredentials.generate(plan.home, [d.id for d in plan.devices], root=plan.root, password=password)
        async with open_broker(BrokerChoice.parse("embedded"), [creds], port=port) as (ready,):
            _save(ready, creds_path)
            console.print(
                f"embedded broker for home [bold]{plan.home}[/] on [bold]{ready.host}:{ready.port}[/]; "
                f"credentials in {creds_path}. Ctrl-C to stop."
            )
            await asyncio.Event().wait()

    with credentials_lock(creds_path, "broker"):
        run_until_done(main())

"""The ``hyperhome`` command line (Typer + Rich)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from hyperhome import __version__
from hyperhome.broker.client import Endpoint, MqttConnector
from hyperhome.broker.credentials import HomeCredentials
from hyperhome.broker.launch import BrokerChoice, open_broker
from hyperhome.broker.topics import Topics
from hyperhome.errors import CommandError, HyperHomeError
from hyperhome.orchestrator.controller import Controller
from hyperhome.scenarios.homefile import load_home, rules_of
from hyperhome.scenarios.loginsfile import load_logins
from hyperhome.scenarios.report import Timeline, print_summary, write_json, write_junit
from hyperhome.scenarios.runner import ScenarioResult, run_scenario_file
from hyperhome.scenarios.runtime import Home
from hyperhome.scenarios.scenario import home_plan, load_scenario, shipped_scenarios

app = typer.Typer(
    name="hyperhome",
    no_args_is_help=True,
    add_completion=False,
    help="HyperHome: a smart-home and Human x Car x Home emulator over a real MQTT broker.",
)
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


def _fail(message: str, code: int = 2) -> typer.Exit:
    errors.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


def _run(main: Any) -> None:
    """Run a coroutine; Ctrl-C and SIGTERM stop it cleanly; project errors become messages."""

    async def guarded() -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError):  # Ctrl-C too: a clean cancellation, not KeyboardInterrupt
            for signum in (signal.SIGINT, signal.SIGTERM):  # raised wherever the loop happens to be
                loop.add_signal_handler(signum, task.cancel)
        await main

    try:
        asyncio.run(guarded())
    except (KeyboardInterrupt, asyncio.CancelledError):
        console.print("[dim]stopped[/]")
    except HyperHomeError as exc:
        raise _fail(str(exc)) from None


@app.callback(invoke_without_command=True)
def _root(version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False) -> None:
    if version:
        console.print(f"hyperhome {__version__}")
        raise typer.Exit


@app.command()
def up(
    home: HomeOpt = "demo",
    broker: BrokerOpt = "embedded",
    logins: LoginsOpt = None,
    ca_file: CaFileOpt = None,
    cert_file: CertFileOpt = None,
    key_file: KeyFileOpt = None,
    port: PortOpt = None,
    speed: Annotated[float, typer.Option("--speed", help="Simulated seconds per wall second.", min=0.001)] = 1.0,
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
) -> None:
    """Bring a home up: broker, devices, orchestrator, web API and dashboard, until Ctrl-C."""
    plan = load_home(home)
    try:
        choice = broker_choice(broker, logins, ca_file, cert_file, key_file)
        choice.check_home(plan.home, [d.id for d in plan.devices])
    except HyperHomeError as exc:
        raise _fail(str(exc)) from None
    creds_path = credentials or default_credentials_path()

    async def main() -> None:
        async with (
            Home(plan, broker=choice, port=port, speed=speed, password=password, grammar=grammar or ()) as running,
            contextlib.AsyncExitStack() as stack,
        ):
            assert running.credentials is not None
            running.credentials.save(creds_path)
            # what start-up built lives until the end: keep it out of the full collections, which
            # otherwise stall a big home for 0.5-0.7 s at a time (docs/BENCHMARKS.md, density)
            gc.collect()
            gc.freeze()
            url = None if no_api else await stack.enter_async_context(_serve_api(running, api_port))
            _print_up(running, creds_path, url)
            await asyncio.Event().wait()

    _run(main())


def _serve_api(running: Home, port: int) -> contextlib.AbstractAsyncContextManager[str]:
    """The web API and dashboard of ``running`` on 127.0.0.1:``port``, in this event loop."""
    # imported here: FastAPI and uvicorn add about half a second to every other command's start
    from hyperhome.orchestrator.web import HomeLink, create_app, serve
    from hyperhome.scenarios.webruns import WebRuns

    assert running.connect is not None
    assert running.credentials is not None
    link = HomeLink(
        running.connect,
        running.credentials.controller,
        running.topics,
        name=running.plan.name or running.plan.home,
        clock=running.clock,
    )
    return serve(create_app(link, runs=WebRuns()), port=port)


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
            f"clock       {running.clock.mode}\n"
            f"automations {len(rules_of(running.plan))} rules (hyperhome send '$orchestrator' automation.list)\n"
            f"credentials {creds_path} (mode 0600)\n"
            + (f"dashboard   [bold]{url}[/] (API docs at {url}docs)\n\n" if url else "\n")
            + f"watch:  mosquitto_sub -h {creds.host} -p {creds.port} {tls_options}-u '{ctl.username}' "
            f"-P \"$(jq -r .controller.password {creds_path})\" -t '{topic.everything}' -v\n"
            f'drive:  hyperhome send living-ac set \'{{"power": true, "target_c": 24}}\'',
            title="HyperHome is up",
            border_style="green",
        )
    )
    console.print(table)
    console.print("[dim]Ctrl-C to stop[/]")


@app.command("broker")
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
            ready.save(creds_path)
            console.print(
                f"embedded broker for home [bold]{plan.home}[/] on [bold]{ready.host}:{ready.port}[/]; "
                f"credentials in {creds_path}. Ctrl-C to stop."
            )
            await asyncio.Event().wait()

    _run(main())


def _controller(creds: HomeCredentials) -> Controller:
    return Controller(MqttConnector(Endpoint.of(creds)), creds.controller, Topics(creds.home, creds.root))


@app.command()
def devices(
    credentials: CredsOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the home's devices with their availability and state."""
    creds = HomeCredentials.load(credentials or default_credentials_path())

    async def main() -> None:
        async with _controller(creds) as ctl:
            registry = await ctl.synced()
        views = sorted(registry.devices.values(), key=lambda v: v.id)
        if as_json:
            sys.stdout.write(json.dumps([v.as_dict() for v in views], indent=2) + "\n")
            return
        table = Table(
            "device", "kind", "room", "availability", "state", title=f"home {creds.home}", title_justify="left"
        )
        for view in views:
            avail = view.availability or "?"
            colour = "green" if view.online else "red"
            state = {k: v for k, v in (view.state or {}).items() if k not in ("ts", "seq")}
            table.add_row(
                view.id,
                view.kind or "?",
                (view.meta.room if view.meta else None) or "",
                f"[{colour}]{avail}[/]",
                json.dumps(state)[:100],
            )
        console.print(table)

    _run(main())


@app.command()
def send(
    device: Annotated[str, typer.Argument(help="Device id, e.g. living-ac")],
    command: Annotated[str, typer.Argument(help="Command name, e.g. set")],
    args: Annotated[str, typer.Argument(help="The args as a JSON object")] = "{}",
    credentials: CredsOpt = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for the reply.")] = 10.0,
) -> None:
    """Send one command and print its reply; exit 1 on an error reply."""
    try:
        parsed = json.loads(args)
    except json.JSONDecodeError as exc:
        msg = f"args are not JSON: {exc}"
        raise _fail(msg) from None
    if not isinstance(parsed, dict):
        msg = "args must be a JSON object, e.g. '{\"target_c\": 24}'"
        raise _fail(msg)
    creds = HomeCredentials.load(credentials or default_credentials_path())
    outcome: dict[str, Any] = {}

    async def main() -> None:
        async with _controller(creds) as ctl:
            try:
                reply = await ctl.request(device, command, parsed, timeout_s=timeout)
            except TimeoutError:
                msg = "timeout"
                raise CommandError(msg, f"no reply from {device!r} within {timeout} s (is it online?)") from None
        outcome["reply"] = reply

    try:
        _run(main())
    except typer.Exit:
        raise
    reply = outcome.get("reply")
    if reply is None:
        raise typer.Exit(1)
    console.print_json(reply.to_payload().decode())
    if not reply.ok:
        raise typer.Exit(1)


# -- scenarios -------------------------------------------------------------------------------------
@app.command("scenarios")
def scenarios_cmd() -> None:
    """List the shipped scenarios with their titles."""
    table = Table("scenario", "title", "needs flows", title="shipped scenarios", title_justify="left")
    for name, path in shipped_scenarios().items():
        scenario, _ = load_scenario(path)
        table.add_row(name, scenario.title, ", ".join(scenario.requires_flows))
    console.print(table)


@app.command()
def run(
    scenario_files: Annotated[
        list[str], typer.Argument(metavar="SCENARIO...", help="Scenario files, or names of shipped scenarios.")
    ],
    broker: BrokerOpt = "embedded",
    logins: LoginsOpt = None,
    ca_file: CaFileOpt = None,
    cert_file: CertFileOpt = None,
    key_file: KeyFileOpt = None,
    speed: Annotated[
        float | None,
        typer.Option(
            "--speed", help="Scaled real time (simulated seconds per wall second); virtual when omitted.", min=0.001
        ),
    ] = None,
    junit: Annotated[Path | None, typer.Option("--junit", help="Write a JUnit XML report here.")] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the results (with traces) as JSON here.")
    ] = None,
    update_golden: Annotated[
        bool, typer.Option("--update-golden", help="Rewrite the golden traces of the scenarios that pass.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live timeline, only the summary.")] = False,
) -> None:
    """Run scenarios with a live timeline; exit 1 if any expectation fails."""
    try:
        loaded = [load_scenario(name) for name in scenario_files]  # every file checked before anything runs
        choice = broker_choice(broker, logins, ca_file, cert_file, key_file)
        for scenario, path in loaded:
            plan = home_plan(scenario, path)
            choice.check_home(plan.home, [d.id for d in plan.devices])
    except HyperHomeError as exc:
        raise _fail(str(exc)) from None
    results: list[ScenarioResult] = []

    async def main() -> None:
        for scenario, path in loaded:
            timeline = Timeline(console, quiet=quiet)
            results.append(
                await run_scenario_file(
                    scenario, path, broker=choice, speed=speed, update_golden=update_golden, progress=timeline
                )
            )
            timeline.finished(results[-1])

    _run(main())
    print_summary(console, results)
    if junit is not None:
        write_junit(results, junit)
    if json_out is not None:
        write_json(results, json_out)
    if len(results) < len(loaded) or any(r.status == "failed" for r in results):
        raise typer.Exit(1)


# -- benchmarks (hyperhome.bench; docs/BENCHMARKS.md) -----------------------------------------------
from hyperhome.bench.cli import bench  # noqa: E402

app.command("bench")(bench)


def main() -> None:
    app()

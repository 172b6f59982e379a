"""The ``hyperhome`` command line (Typer + Rich).

A mistake the user can fix (a home or scenario file, an option, a credentials file, a home that
is not running) is one ``error:`` line with the file, line and field where there is a file, and
exit code 2, from every command; ``_Commands`` turns any ``HyperHomeError`` into that.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from typer.core import TyperCommand, TyperGroup

from hyperhome import __version__
from hyperhome.broker.client import Endpoint, Message, MqttConnector
from hyperhome.broker.credentials import HomeCredentials
from hyperhome.broker.launch import BrokerChoice, open_broker
from hyperhome.broker.topics import ORCHESTRATOR, Topics
from hyperhome.broker.wire import PayloadError, Reply, loads
from hyperhome.devices.catalog import KINDS
from hyperhome.devices.clock import Clock
from hyperhome.errors import ConfigError, ConnectError, HyperHomeError, NotConnectedError
from hyperhome.orchestrator.controller import Controller
from hyperhome.orchestrator.registry import DeviceView, Registry
from hyperhome.scenarios.homefile import load_home, rules_of
from hyperhome.scenarios.lock import credentials_lock
from hyperhome.scenarios.loginsfile import load_logins
from hyperhome.scenarios.report import Timeline, print_summary, write_json, write_junit
from hyperhome.scenarios.runner import ScenarioResult, compare_runs, run_scenario_file
from hyperhome.scenarios.runtime import Home
from hyperhome.scenarios.scenario import home_plan, load_scenario, shipped_scenarios

T = TypeVar("T")


class _PlainHelp:
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


class _Command(_PlainHelp, TyperCommand):
    """One command, with plain help."""


class _Commands(_PlainHelp, TyperGroup):
    """The commands; a ``HyperHomeError`` from any of them is one ``error:`` line and exit 2."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return [*super().collect_usage_pieces(ctx), self.subcommand_metavar]

    def invoke(self, ctx: Any) -> Any:  # a click Context (recent Typers vendor their own click)
        try:
            return super().invoke(ctx)
        except HyperHomeError as exc:
            raise _fail(str(exc)) from None


app = typer.Typer(
    name="hyperhome",
    cls=_Commands,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",  # docstrings reflow into paragraphs, ``code`` shows as code
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
    errors.print(f"[bold red]error:[/] {escape(message)}")
    return typer.Exit(code)


def _run(main: Coroutine[Any, Any, T], *, interrupted: str | None = None) -> T | None:
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


@app.callback(invoke_without_command=True)
def _root(version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False) -> None:
    if version:
        console.print(f"hyperhome {__version__}")
        raise typer.Exit


@app.command(cls=_Command)
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
    faults: Annotated[
        bool,
        typer.Option(
            "--faults", help="Put a fault proxy in front of each device's link (POST /api/faults, docs/web.md)."
        ),
    ] = False,
) -> None:
    """Bring a home up: broker, devices, orchestrator, web API and dashboard, until Ctrl-C.

    A start that fails changes nothing: the credentials file is claimed first (one ``up`` per
    file), every port is bound before anything is written, and the file is written last.
    """
    plan = load_home(home)
    try:
        choice = broker_choice(broker, logins, ca_file, cert_file, key_file)
        choice.check_home(plan.home, [d.id for d in plan.devices])
    except HyperHomeError as exc:
        raise _fail(str(exc)) from None
    creds_path = credentials or default_credentials_path()

    async def main(api: socket.socket | None) -> None:
        async with (
            Home(
                plan, broker=choice, port=port, speed=speed, password=password, grammar=grammar or (), faults=faults
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
        _run(main(api))


def _bind_api(port: int) -> socket.socket:
    # imported here: FastAPI and uvicorn add about half a second to every other command's start
    from hyperhome.orchestrator.web.serve import bind

    return bind(port)


def _save(creds: HomeCredentials, path: Path) -> None:
    try:
        creds.save(path)
    except OSError as exc:
        msg = f"cannot write the credentials file {path}: {exc.strerror or exc}"
        raise ConfigError(msg) from None


def _serve_api(running: Home, sock: socket.socket) -> contextlib.AbstractAsyncContextManager[str]:
    """The web API and dashboard of ``running`` on ``sock`` (bound on 127.0.0.1), in this event loop."""
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


def _faults_line(running: Home, url: str | None) -> str:
    assert running.faults is not None
    ports = ", ".join(f"{link.device} :{link.port}" for link in running.faults.links())
    where = f"POST {url}api/faults" if url else "no web API to set them (--no-api)"
    return f"faults      a proxy per device link ({ports}); {where}\n"


@app.command("broker", cls=_Command)
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
        _run(main())


def _controller(creds: HomeCredentials) -> Controller:
    return Controller(MqttConnector(Endpoint.of(creds)), creds.controller, Topics(creds.home, creds.root))


@contextlib.asynccontextmanager
async def _connected(creds: HomeCredentials, path: Path) -> AsyncIterator[Controller]:
    """A controller of the home whose credentials were read from ``path``; a broker that does not
    answer is a ConnectError saying that the home may have stopped."""
    async with contextlib.AsyncExitStack() as stack:
        try:
            ctl = await stack.enter_async_context(_controller(creds))
        except ConnectError as exc:
            msg = f"{exc} (is `hyperhome up` running? {path} names this broker)"
            raise ConnectError(msg) from None
        yield ctl


def _waiting_for(creds: HomeCredentials, path: Path) -> str:
    return (
        f"stopped while waiting for the home {creds.home!r} on {creds.host}:{creds.port}; if it does not "
        f"answer, check that `hyperhome up` is running and that {path} is the file it wrote"
    )


@app.command(cls=_Command)
def devices(
    credentials: CredsOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the home's devices with their availability and state."""
    creds_path = credentials or default_credentials_path()
    creds = HomeCredentials.load(creds_path)

    async def main() -> None:
        async with _connected(creds, creds_path) as ctl:
            registry = await ctl.synced()
        views = sorted(registry.devices.values(), key=lambda v: v.id)
        if as_json:
            sys.stdout.write(json.dumps([v.as_dict() for v in views], indent=2) + "\n")
            return
        # readable at 80 columns: a device takes two lines, its kind under its id
        table = Table("device", "room", "", "at a glance (--json: everything)", box=box.SIMPLE_HEAD, pad_edge=False)
        table.title, table.title_justify = f"home {creds.home}", "left"
        for view in views:
            colour = "green" if view.online else "red"
            table.add_row(
                f"{escape(view.id)}\n[dim]{escape(view.kind or '?')}[/]",
                escape((view.meta.room if view.meta else None) or ""),
                f"[{colour}]{view.availability or '?'}[/]",
                escape(glance(view.kind, view.state or {})),
            )
        console.print(table)

    _run(main(), interrupted=_waiting_for(creds, creds_path))


def glance(kind: str | None, state: dict[str, Any]) -> str:
    """The few fields its kind names (``Device.summary``; else the first four), as ``key=value``."""
    known = KINDS.get(kind or "")
    names = (known.summary if known is not None else ()) or [k for k in state if k not in ("ts", "seq")][:4]
    shown = []
    for name in names:
        value: Any = state
        for part in name.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if name in state or value is not None:
            shown.append(f"{name}={_short(value)}")
    return " ".join(shown)


def _short(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= 24 else text[:23] + "…"


@app.command(cls=_Command)
def send(
    device: Annotated[str, typer.Argument(help="Device id, e.g. living-ac")],
    command: Annotated[str, typer.Argument(help="Command name, e.g. set")],
    args: Annotated[str, typer.Argument(metavar="JSON", help="The args as a JSON object")] = "{}",
    credentials: CredsOpt = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for the reply.")] = 10.0,
) -> None:
    """Send one command and print its reply; exit 1 on an error reply.

    A command that makes the device ask the orchestrator for something (the phone's ``tap``)
    also prints what the orchestrator made of it, and exits 1 if it refused.

    Without a connection to the broker (the home stopped, the broker restarting) the command is
    not sent and never will be: ``error: not_connected: ...``, exit 2 (docs/protocol.md,
    "Commands during an outage").
    """
    try:
        parsed = loads(args)  # as a device reads them: at most 32 levels deep, finite numbers
    except PayloadError as exc:
        msg = f"args are not JSON a device reads: {exc}"
        raise _fail(msg) from None
    if not isinstance(parsed, dict):
        msg = "args must be a JSON object, e.g. '{\"target_c\": 24}'"
        raise _fail(msg)
    creds_path = credentials or default_credentials_path()
    creds = HomeCredentials.load(creds_path)

    async def main() -> tuple[Reply, str | None]:
        async with _not_sent(device, command), _connected(creds, creds_path) as ctl:
            view = _check_target(await ctl.synced(), creds.home, device)
            asks = view is not None and view.meta is not None and "intent" in view.meta.events
            intents = await IntentAnswers.watch(ctl, device) if asks else None
            try:
                reply = await ctl.request(device, command, parsed, timeout_s=timeout)
            except TimeoutError:
                msg = f"timeout: no reply from {device!r} within {timeout:g} s (is it online?)"
                raise _fail(msg, 1) from None
            console.print_json(reply.to_payload().decode())
            intent = (reply.result or {}).get("intent") if reply.ok else None
            if intents is None or not isinstance(intent, str):
                return reply, None
            return reply, await intents.answer(intent, timeout)

    outcome = _run(main(), interrupted=_waiting_for(creds, creds_path))
    if outcome is None:
        raise typer.Exit(1)
    reply, started = outcome
    if not reply.ok:
        raise typer.Exit(1)
    if started is not None:
        console.print(started)


@contextlib.asynccontextmanager
async def _not_sent(device: str, command: str) -> AsyncIterator[None]:
    """No connection, or it was lost before the command was handed over: the one ``error:`` line
    says ``not_connected`` and that nothing was sent (nothing is queued to be sent later)."""
    try:
        yield
    except (ConnectError, NotConnectedError) as exc:
        msg = f"not_connected: {device} {command} was not sent: {exc}"
        raise _fail(msg) from None


def _check_target(registry: Registry, home: str, device: str) -> DeviceView | None:
    """The device, if the home has it and it is online (the registry holds every device's
    retained ``$meta``); None for the orchestrator."""
    if device == ORCHESTRATOR:
        return None
    view = registry.devices.get(device)
    if view is None or view.meta is None:
        known = ", ".join(sorted(v.id for v in registry.devices.values() if v.meta is not None))
        msg = f"home {home!r} has no device {device!r} (its devices: {known or 'none'})"
        raise ConfigError(msg)
    if not view.online:
        msg = f"{device!r} is {view.availability or 'not online'}: it cannot answer now"
        raise _fail(msg, 1)
    return view


class IntentAnswers:
    """What the orchestrator does with the intents one device publishes: it starts a flow of the
    intent's kind (``flow_started``) or refuses it with a reason (``intent_refused``)."""

    def __init__(self, device: str) -> None:
        self.device = device
        self._seen: list[tuple[str, dict[str, Any]]] = []
        self._changed = asyncio.Event()

    @classmethod
    async def watch(cls, ctl: Controller, device: str) -> IntentAnswers:
        """Start listening, before the command that makes the device publish its intent."""
        answers = cls(device)
        await ctl.bus.subscribe(ctl.topics.event(ORCHESTRATOR, "flow_started"), answers._on)
        await ctl.bus.subscribe(ctl.topics.event(ORCHESTRATOR, "intent_refused"), answers._on)
        return answers

    def _on(self, message: Message) -> None:
        with contextlib.suppress(ValueError):
            payload = message.json()
            if isinstance(payload, dict):
                self._seen.append((message.topic.rsplit("/", 1)[-1], payload))
                self._changed.set()

    async def answer(self, intent: str, timeout_s: float) -> str:
        """``intent 'precool' started flow f-1``; exit 1 with the reason if it was refused."""
        try:
            async with asyncio.timeout(timeout_s):
                while (found := self._find(intent)) is None:
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            msg = f"intent {intent!r}: no answer from the orchestrator within {timeout_s:g} s (is it running?)"
            raise _fail(msg, 1) from None
        name, payload = found
        if name == "intent_refused":
            msg = f"intent {intent!r} refused: {payload.get('reason')}"
            raise _fail(msg, 1)
        return f"intent {intent!r} started flow {payload.get('flow_id')}"

    def _find(self, intent: str) -> tuple[str, dict[str, Any]] | None:
        for name, payload in self._seen:
            if name == "flow_started" and payload.get("kind") == intent:
                return name, payload
            if name == "intent_refused" and (payload.get("device"), payload.get("intent")) == (self.device, intent):
                return name, payload
        return None


# -- scenarios -------------------------------------------------------------------------------------
@app.command("scenarios", cls=_Command)
def scenarios_cmd() -> None:
    """List the shipped scenarios with their titles."""
    table = Table("scenario", "title", "needs flows", title="shipped scenarios", title_justify="left")
    for name, path in shipped_scenarios().items():
        scenario, _ = load_scenario(path)
        table.add_row(name, scenario.title, ", ".join(scenario.requires_flows))
    console.print(table)


@app.command(cls=_Command)
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
    repeat: Annotated[
        int,
        typer.Option(
            "--repeat",
            help="Run each scenario N times; fail, showing the first differing entry, if two traces differ.",
            min=1,
        ),
    ] = 1,
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
            clock = (
                "virtual time"
                if (speed or scenario.clock.speed) is None
                else f"speed x{speed or scenario.clock.speed:g}"
            )
            where = choice.describe() if choice.kind == "url" else choice.kind
            timeline = Timeline(console, quiet=quiet, broker=where, clock=clock)
            first = await run_scenario_file(
                scenario, path, broker=choice, speed=speed, update_golden=update_golden, progress=timeline
            )
            results.append(first)
            timeline.finished(first)
            for index in range(2, repeat + 1):
                again = await run_scenario_file(scenario, path, broker=choice, speed=speed)
                difference = compare_runs(first, again)
                if difference is not None:
                    first.status = "failed"
                    first.failure = f"run {index} of {repeat} differs from run 1: {difference}"
                    console.print(f"[red]FAILED[/] {path.stem}: {first.failure}", markup=True, highlight=False)
                    break
            else:
                if repeat > 1:
                    console.print(f"{path.stem}: {repeat} runs, {repeat} identical traces", highlight=False)

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

app.command("bench", cls=_Command)(bench)


def main() -> None:
    app(prog_name="hyperhome")  # the same name in help from ``python -m hyperhome``

"""``hyperhome bench NAME``: run benchmarks, print their tables, write their JSON.

Registered on the main ``hyperhome`` app by ``hyperhome/cli/__init__.py``. The bench modules are imported
only when a bench runs, so the command line starts as fast as without them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from hyperhome.broker.launch import BrokerChoice
from hyperhome.broker.mosquitto import find_mosquitto
from hyperhome.cli.common import FleetJoin
from hyperhome.errors import ConfigError, HyperHomeError

console = Console()
if not console.is_terminal:
    console.width = max(console.width, 160)  # piped to a file, the tables keep one line per row
errors = Console(stderr=True)


class BenchName(StrEnum):
    HANDOFF = "handoff"
    VIRTUAL_TIME = "virtual-time"
    DENSITY = "density"
    OVERHEAD = "overhead"
    BROKER = "broker"
    RELIABILITY = "reliability"
    FLEET = "fleet"
    ALL = "all"


class Via(StrEnum):
    DIRECT = "direct"
    FLOW = "flow"


ORDER = (
    BenchName.VIRTUAL_TIME,
    BenchName.OVERHEAD,
    BenchName.BROKER,
    BenchName.HANDOFF,
    BenchName.RELIABILITY,
    BenchName.DENSITY,
    BenchName.FLEET,
)
"""``all`` runs the quick ones first and density and fleet, the slowest, last."""


def bench(
    name: Annotated[
        BenchName,
        typer.Argument(
            metavar="NAME",
            help="handoff, virtual-time, density, overhead, broker, reliability, fleet, or all.",
            case_sensitive=False,
        ),
    ],
    broker: Annotated[
        list[str] | None,
        typer.Option(
            "--broker",
            metavar="BROKER",
            help="embedded, mosquitto, mqtt://user:pass@host:port or mqtts://... (TLS); repeat it for several "
            "[default: embedded and mosquitto]",
        ),
    ] = None,
    ca_file: Annotated[
        Path | None,
        typer.Option("--ca-file", help="For the mqtts:// brokers: the CA certificate(s) of theirs, PEM."),
    ] = None,
    cert_file: Annotated[
        Path | None, typer.Option("--cert-file", help="For the mqtts:// brokers: a client certificate (PEM).")
    ] = None,
    key_file: Annotated[
        Path | None, typer.Option("--key-file", help="With --cert-file: its private key, if not in the same file.")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write every figure as JSON here.")] = None,
    switches: Annotated[int, typer.Option("--switches", help="handoff: switches, there and back.", min=2)] = 200,
    via: Annotated[
        Via, typer.Option("--via", help="handoff: direct commands, or the camera_handoff flow.")
    ] = Via.DIRECT,
    devices: Annotated[
        str, typer.Option("--devices", help="density: device counts to try, comma-separated, e.g. 1000,5000.")
    ] = "5000",
    period: Annotated[
        float, typer.Option("--period", help="density: seconds between one device's state publishes.", min=0.01)
    ] = 10.0,
    window: Annotated[float, typer.Option("--window", help="density: seconds measured per size.", min=0.1)] = 30.0,
    gc_freeze: Annotated[
        bool, typer.Option("--gc-freeze", help="density: gc.freeze() after start-up, as `up` and `fleet` do.")
    ] = False,
    fleet_devices: Annotated[
        str,
        typer.Option("--fleet-devices", help="fleet: device counts to try (in homes of 9), comma-separated."),
    ] = "2000,5000,10000,20000",
    workers: Annotated[
        int | None,
        typer.Option("--workers", help="fleet: worker processes.", min=1, show_default="one per core"),
    ] = None,
    join: Annotated[
        FleetJoin,
        typer.Option(
            "--join",
            help="fleet: when each home joins its day, as `hyperhome fleet --join`: anytime (the mix of a real "
            "day) or episode (every home just before one of its episodes: the busiest mix).",
        ),
    ] = FleetJoin.ANYTIME,
    messages: Annotated[int, typer.Option("--messages", help="overhead: publishes per loop.", min=1)] = 2000,
    seconds: Annotated[float, typer.Option("--seconds", help="broker: seconds per phase.", min=0.1)] = 5.0,
    rate: Annotated[float, typer.Option("--rate", help="broker: msgs/s of the fixed-rate phase.", min=1)] = 200.0,
    payloads: Annotated[
        int | None,
        typer.Option(
            "--payloads", help="reliability: bad payloads of the fuzz run, in all.", min=1, show_default="15,000"
        ),
    ] = None,
    home_devices: Annotated[
        int | None,
        typer.Option(
            "--home-devices",
            help="reliability: the ACL matrix and bad logins on the demo home's first N devices.",
            min=1,
            show_default="all nine",
        ),
    ] = None,
    takeovers: Annotated[
        int,
        typer.Option(
            "--takeovers", help="reliability: runs of the client-id takeover matrix (100 CONNECTs each).", min=1
        ),
    ] = 3,
    restarts: Annotated[
        int,
        typer.Option(
            "--restarts", help="reliability: pre-cool flows run through a broker restart (a fresh home each).", min=1
        ),
    ] = 10,
    link_faults: Annotated[
        int,
        typer.Option("--link-faults", help="reliability: drops and partitions of device links (fault proxy).", min=1),
    ] = 10,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 if a target is missed (reliability: anything leaked or lost).")
    ] = False,
) -> None:
    """Measure HyperHome: handoff latency, virtual-time speed, devices per process, overhead, brokers, reliability."""
    texts = broker or _default_brokers()
    try:
        choices = _choices(texts, ca_file=ca_file, cert_file=cert_file, key_file=key_file)
        sizes = _sizes(devices)
        fleet_sizes = _sizes(fleet_devices, "--fleet-devices")
    except (HyperHomeError, ValueError) as exc:
        raise _fail(str(exc)) from None
    names: list[BenchName] = list(ORDER) if name is BenchName.ALL else [name]
    options = {
        "switches": switches,
        "via": via,
        "sizes": sizes,
        "fleet_sizes": fleet_sizes,
        "workers": workers,
        "join": join.value,
        "period": period,
        "window": window,
        "gc_freeze": gc_freeze,
        "messages": messages,
        "seconds": seconds,
        "rate": rate,
        "payloads": payloads,
        "home_devices": home_devices,
        "takeovers": takeovers,
        "restarts": restarts,
        "link_faults": link_faults,
    }
    # what the JSON records: the same options, under the names the figures use
    renamed = {"sizes": "devices", "fleet_sizes": "fleet_devices", "period": "period_s", "window": "window_s"}
    settings: dict[str, Any] = {
        "benches": [str(n) for n in names],
        "brokers": [c.describe() for c in choices],
        **{renamed.get(key, key): str(value) if key == "via" else value for key, value in options.items()},
    }
    if BenchName.RELIABILITY in names and not _has_hypothesis():
        if name is not BenchName.ALL:
            msg = "the reliability bench draws its payloads with hypothesis: pip install 'hyperhome[bench]'"
            raise _fail(msg)
        skip = "hypothesis is not installed: skipping reliability (pip install 'hyperhome[bench]')"
        errors.print(f"[yellow]{escape(skip)}[/]")
        names.remove(BenchName.RELIABILITY)
    logging.getLogger("amqtt").setLevel(logging.ERROR)  # its shutdown chatter is not a figure
    from hyperhome.bench.report import document, machine, write_json

    started = machine()
    results = _run(_benches(names, choices, options))

    missed = [note for result in results for note in result.notes]
    if json_out is not None:
        write_json(json_out, document(results, settings, started))
        console.print(f"[dim]figures written to {json_out}[/]")
    if missed and strict:
        raise typer.Exit(1)


async def _benches(names: list[BenchName], choices: list[BrokerChoice], o: dict[str, Any]) -> Any:
    from hyperhome.bench import brokers, density, handoff, overhead, virtual_time

    results = []
    say = _say
    for name in names:
        match name:
            case BenchName.HANDOFF:
                result = await handoff.run(choices, switches=o["switches"], via=o["via"].value, progress=say)
            case BenchName.VIRTUAL_TIME:
                result = await virtual_time.run(choices, progress=say)
            case BenchName.DENSITY:
                result = await density.run(
                    choices,
                    devices=o["sizes"],
                    period_s=o["period"],
                    window_s=o["window"],
                    freeze_heap=o["gc_freeze"],
                    progress=say,
                )
            case BenchName.FLEET:
                from hyperhome.bench import fleet
                from hyperhome.fleet.plan import join_of

                result = await fleet.run(
                    devices=o["fleet_sizes"],
                    workers=o["workers"],
                    join=join_of(o["join"]),
                    period_s=o["period"],
                    window_s=o["window"],
                    progress=say,
                )
            case BenchName.OVERHEAD:
                result = await overhead.run(choices, messages=o["messages"], progress=say)
            case BenchName.RELIABILITY:
                from hyperhome.bench import reliability

                size = reliability.Size(
                    devices=o["home_devices"],
                    takeovers=o["takeovers"],
                    restarts=o["restarts"],
                    link_faults=o["link_faults"],
                )
                if o["payloads"] is not None:
                    size = dataclasses.replace(size, payloads=o["payloads"])
                result = await reliability.run(choices, size=size, progress=say)
            case _:
                result = await brokers.run(choices, seconds=o["seconds"], rate=o["rate"], progress=say)
        console.print(result.table)
        for note in result.notes:
            console.print(f"[yellow]target missed:[/] {note}")
        results.append(result)
    return results


def _choices(
    texts: list[str], *, ca_file: Path | None, cert_file: Path | None, key_file: Path | None
) -> list[BrokerChoice]:
    """Every ``--broker``; the TLS files go with each ``mqtts://`` one."""
    choices = []
    for text in texts:
        tls = text.strip().startswith("mqtts://")
        files = (ca_file, cert_file, key_file) if tls else (None, None, None)
        choices.append(BrokerChoice.parse(text, ca_file=files[0], cert_file=files[1], key_file=files[2]))
    given = [
        name for name, path in (("--ca-file", ca_file), ("--cert-file", cert_file), ("--key-file", key_file)) if path
    ]
    if given and not any(choice.tls for choice in choices):
        msg = f"{' and '.join(given)} {'needs' if len(given) == 1 else 'need'} an mqtts:// --broker"
        raise ConfigError(msg)
    return choices


def _has_hypothesis() -> bool:
    """The reliability bench's fuzz run draws its payloads with hypothesis, an extra (``bench``)."""
    try:
        import hypothesis  # noqa: F401
    except ImportError:
        return False
    return True


def _say(text: str) -> None:
    console.print(f"[dim]{text}[/]")


def _default_brokers() -> list[str]:
    if find_mosquitto() is None:
        errors.print("[yellow]mosquitto is not installed: measuring the embedded broker only[/]")
        return ["embedded"]
    return ["embedded", "mosquitto"]


def _sizes(text: str, option: str = "--devices") -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        msg = f"{option} takes whole numbers separated by commas, e.g. 1000,5000 (not {text!r})"
        raise ValueError(msg) from None
    if not sizes or min(sizes) < 1:
        msg = f"{option} needs one or more counts, each at least 1"
        raise ValueError(msg)
    return sizes


def _fail(message: str) -> typer.Exit:
    errors.print(f"[bold red]error:[/] {escape(message)}")  # a message's [brackets] are text, not markup
    return typer.Exit(2)


def _run(main: Any) -> Any:
    """Run the benches; Ctrl-C and SIGTERM stop them cleanly; project errors become messages."""

    async def guarded() -> Any:
        task = asyncio.current_task()
        assert task is not None
        with contextlib.suppress(NotImplementedError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        return await main

    try:
        return asyncio.run(guarded())
    except (KeyboardInterrupt, asyncio.CancelledError):
        errors.print("[dim]stopped[/]")
        raise typer.Exit(130) from None
    except HyperHomeError as exc:
        raise _fail(str(exc)) from None

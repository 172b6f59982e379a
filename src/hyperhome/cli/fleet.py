"""``hyperhome fleet``: many homes from one template, living their days, with live figures."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.live import Live
from rich.table import Table

from hyperhome.cli.common import (
    CaFileOpt,
    CertFileOpt,
    FleetJoin,
    HomeOpt,
    KeyFileOpt,
    LoginsOpt,
    broker_choice,
    console,
    fail,
)
from hyperhome.durations import parse_duration
from hyperhome.errors import ConfigError, HyperHomeError
from hyperhome.home.homefile import load_home

INDEX_ENV = "JOB_COMPLETION_INDEX"


def fleet(
    homes: Annotated[
        int, typer.Option("--homes", help="How many homes, each a copy of --home with its own id.", min=1)
    ] = 10,
    home: HomeOpt = "demo",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the homes' days: the same seed, the same days.")] = 1,
    days: Annotated[
        int, typer.Option("--days", help="Simulated days each home lives (from when it joins).", min=1)
    ] = 1,
    join: Annotated[
        FleetJoin,
        typer.Option(
            "--join",
            help="When each home joins its day: a little before one of its episodes, the kinds in turn (every "
            "flow shows early; about one home in six starts on a video call), or at any moment of the day "
            "(the mix of a real day, most homes idle at any moment).",
        ),
    ] = FleetJoin.EPISODE,
    speed: Annotated[
        float, typer.Option("--speed", help="Simulated seconds per wall second (1: real time).", min=0.001)
    ] = 1.0,
    duration: Annotated[
        str | None,
        typer.Option("--duration", help="Stop after this wall time (90s, 2m, 1h); default: when the days end."),
    ] = None,
    ramp: Annotated[float, typer.Option("--ramp", help="Homes started per second, over all workers.", min=0.01)] = 50.0,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            help="Worker processes (or Ray actors), each a shard of homes.",
            min=1,
            show_default="one per core",
        ),
    ] = None,
    broker: Annotated[
        str,
        typer.Option(
            "--broker",
            envvar="HYPERHOME_BROKER",
            help="mosquitto (managed child), embedded (a small fleet only), or a URL mqtt://user:pass@host:port "
            "or mqtts://... (also from $HYPERHOME_BROKER, which keeps a password off the command line).",
        ),
    ] = "mosquitto",
    logins: LoginsOpt = None,
    ca_file: CaFileOpt = None,
    cert_file: CertFileOpt = None,
    key_file: KeyFileOpt = None,
    state_every: Annotated[
        str, typer.Option("--state-every", help="Each device republishes its state this often, wall time (0: never).")
    ] = "10s",
    fps: Annotated[
        float,
        typer.Option(
            "--fps",
            help="Camera frames a video call gets per wall second at most (the bulk of the messages).",
            min=0.1,
            max=30,
        ),
    ] = 30.0,
    shard: Annotated[
        str | None,
        typer.Option(
            "--shard",
            help=f"I/N: run only share I (0-based) of N, in this process; N alone takes I from ${INDEX_ENV} "
            "(a Kubernetes Indexed Job). Needs a --broker URL.",
        ),
    ] = None,
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray",
            help="auto or a Ray address: one actor per shard on a Ray cluster (pip install 'hyperhome[fleet]').",
        ),
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the totals and per-worker figures as JSON here.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No live progress, only the summary.")] = False,
) -> None:
    """Run a fleet of homes against one broker: each home's devices, automations, voice and flows
    living a seeded day (residents leaving and coming home, weather, calls moved to the rear camera,
    voice requests, pre-cools, visitors), with live figures and a summary.
    """
    from hyperhome.fleet.plan import join_of  # imported here: `hyperhome --help` stays quick
    from hyperhome.fleet.run import FleetOptions, check

    try:
        choice = broker_choice(broker, logins, ca_file, cert_file, key_file)
        options = FleetOptions(
            template=load_home(home),
            homes=homes,
            broker=choice,
            workers=workers or (1 if shard else os.cpu_count() or 1),
            seed=seed,
            days=days,
            join=join_of(join.value),
            speed=speed,
            ramp=ramp,
            duration_s=_seconds(duration, "--duration") if duration else None,
            state_every_s=_seconds(state_every, "--state-every"),
            max_fps=fps,
            shard=_shard(shard) if shard else None,
            ray=ray,
        )
        check(options)
        if ray is not None:
            _need_ray()
    except HyperHomeError as exc:
        raise fail(str(exc)) from None
    logging.basicConfig(level=logging.ERROR)
    result = _run(options, quiet=quiet)
    console.print(summary(result))
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(result.as_json(), indent=2, ensure_ascii=False) + "\n")
        console.print(f"[dim]figures written to {json_out}[/]")
    if result.error_count:
        raise typer.Exit(1)


def _seconds(text: str, option: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        msg = f"{option}: {exc}"
        raise ConfigError(msg) from None


def _shard(text: str) -> tuple[int, int]:
    index_text, sep, count_text = text.partition("/")
    if not sep:
        index_text, count_text = os.environ.get(INDEX_ENV, ""), text
        if not index_text:
            msg = f"--shard {text}: give I/N, or N with ${INDEX_ENV} set (as a Kubernetes Indexed Job sets it)"
            raise ConfigError(msg)
    try:
        index, count = int(index_text), int(count_text)
    except ValueError:
        msg = f"--shard takes I/N, two whole numbers (e.g. 0/4), not {text!r}"
        raise ConfigError(msg) from None
    if count < 1:
        msg_0 = f"--shard {text}: N must be at least 1"
        raise ConfigError(msg_0)
    return index, count


def _need_ray() -> None:
    try:
        import ray  # noqa: F401
    except ImportError:
        msg = "--ray needs Ray: pip install 'hyperhome[fleet]'"
        raise ConfigError(msg) from None


def _run(options: Any, *, quiet: bool) -> Any:
    from hyperhome.fleet.run import run_fleet

    async def main() -> Any:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):  # stop cleanly and still print the summary
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        if quiet or not console.is_terminal:
            return await run_fleet(options, stop=stop, progress=_plain if not quiet else lambda _: None)
        with Live(console=console, refresh_per_second=2, transient=False) as live:
            return await run_fleet(options, stop=stop, progress=lambda p: live.update(live_view(p)))

    try:
        return asyncio.run(main())
    except HyperHomeError as exc:
        raise fail(str(exc)) from None


_last_plain = [0.0]


def _plain(p: Any) -> None:
    """Without a terminal: one line every 10 s."""
    if p.elapsed_s - _last_plain[0] < 10:
        return
    _last_plain[0] = p.elapsed_s
    t = p.total
    console.print(
        f"{p.elapsed_s:6.0f} s  homes {t['homes_up']}/{t['homes']}  online {t['devices_online']}/{t['devices']}  "
        f"in {p.rates['msgs_in']:.0f}/s out {p.rates['msgs_out']:.0f}/s  commands {t['commands']} "
        f"errors {t['error_replies'] + t['error_replies_seen']}  flows {t['flows_started']}/{t['flows_succeeded']}/"
        f"{t['flows_failed']}  lag p99 {p.lag_p99_ms:g} ms"
    )


def live_view(p: Any) -> Group:
    t = p.total
    head = Table.grid(padding=(0, 2))
    for _ in range(4):
        head.add_column()
    head.add_row(
        f"[bold]{p.elapsed_s:.0f} s[/]",
        f"homes up [bold]{t['homes_up']:,}[/] / {t['homes']:,}",
        f"devices online [bold]{t['devices_online']:,}[/] / {t['devices']:,}",
        f"publish lag p99 [bold]{p.lag_p99_ms:g} ms[/]",
    )
    head.add_row(
        "",
        f"msgs/s in [bold]{p.rates['msgs_in']:,.0f}[/] out [bold]{p.rates['msgs_out']:,.0f}[/]",
        f"commands {t['commands']:,}, error replies [bold]{t['error_replies'] + t['error_replies_seen']}[/]",
        f"flows started {t['flows_started']:,} / succeeded {t['flows_succeeded']:,} "
        f"/ failed [bold]{t['flows_failed']}[/]",
    )
    workers = Table("worker", "host", "pid", "homes", "online", "cores", "RSS MB", title_justify="left")
    for w in p.workers:
        workers.add_row(
            w["worker"],
            w["host"],
            str(w["pid"]),
            f"{w['homes_up']}/{w['homes']}",
            f"{w['devices_online']}/{w['devices']}",
            f"{w['cores']:.2f}",
            f"{w['rss_mb']:.0f}",
        )
    return Group(head, workers)


def summary(result: Any) -> Table:
    t = result.total
    s = result.settings
    table = Table(
        "figure",
        "value",
        title=f"fleet: {s['homes_here']:,} homes of {s['template']}, {s['broker']}",
        title_justify="left",
    )
    rows = [
        ("wall time", f"{result.elapsed_s:.1f} s (speed x{s['speed']:g})"),
        ("homes up", f"{t['homes_up']:,} / {t['homes']:,}"),
        ("devices online at the end", f"{t['devices_online']:,} / {t['devices']:,}"),
        ("messages in / out", f"{t['msgs_in']:,} / {t['msgs_out']:,}"),
        ("state republishes done / due", f"{t['beats_done']:,} / {t['beats_due']:,}"),
        ("publish lag p99", f"{t['lag_p99_ms']:g} ms"),
        ("commands (driver)", f"{t['commands']:,}"),
        (
            "error replies (driver / all seen)",
            f"{t['error_replies']} / {t['error_replies_seen']} of {t['replies_seen']:,}",
        ),
        ("flows started / succeeded / failed", f"{t['flows_started']} / {t['flows_succeeded']} / {t['flows_failed']}"),
        ("flows by kind", ", ".join(f"{k} {v}" for k, v in t["flow_kinds"].items()) or "-"),
        ("publishes failed", f"{t['publish_failed']}"),
        ("worker restarts", f"{t['restarts']}"),
        ("errors", f"[bold {'green' if not result.error_count else 'red'}]{result.error_count}[/]"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    for w in result.workers:
        table.add_row(
            f"worker {w['worker']}",
            f"{w['host']} pid {w['pid']}"
            + (f" Ray node {w['node'][:8]}" if w.get("node") else "")
            + f": {w['homes_up']} homes, cpu {w['cpu_s']:.1f} s, RSS {w['rss_mb']:.0f} MB",
        )
    for error in t["errors"][:5]:
        table.add_row("[red]error[/]", error)
    return table

"""What every bench shares: percentiles, the machine a figure came from, resource readings, JSON.

A bench returns a ``BenchResult``: ``figures`` is the JSON a bench hands off (under the bench's
own key, in the shape docs/BENCHMARKS.md gives), ``details`` what else it measured (per
scenario, per direction, ...), and ``table`` the Rich table shown for it. Nothing here waits or
measures by itself.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from rich.console import RenderableType
from rich.table import Table

from hyperhome.broker.launch import BrokerChoice
from hyperhome.errors import HyperHomeError

_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024 if hasattr(os, "sysconf") else 4
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class BenchError(HyperHomeError):
    """A bench could not measure what it set out to (no frame came, a device did not start)."""


@dataclass
class BenchResult:
    """One bench's figures (the handoff JSON), its details, and the table that shows them."""

    name: str
    figures: dict[str, Any]
    details: dict[str, Any] = field(default_factory=dict)
    table: RenderableType | None = None
    """A Rich table, or a ``Group`` of them (the handoff bench's latencies, then its hops)."""
    notes: list[str] = field(default_factory=list)
    """Targets missed, failed scenarios, ...: printed under the table and kept in the JSON."""


# -- statistics ----------------------------------------------------------------------------------
def percentile(values: Sequence[float], pct: float) -> float:
    """The ``pct`` percentile by linear interpolation between closest ranks (NumPy's default).

    0 for no values: a bench that measured nothing says so in its sample count, not with NaN.
    """
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ms(seconds: float) -> float:
    """Seconds as milliseconds rounded to microseconds, for JSON and tables."""
    return round(seconds * 1000, 3)


def latency_summary(samples_s: Sequence[float]) -> dict[str, float]:
    return {
        "p50_ms": ms(percentile(samples_s, 50)),
        "p99_ms": ms(percentile(samples_s, 99)),
        "max_ms": ms(max(samples_s, default=0.0)),
    }


# -- the machine ----------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    """Where the figures came from: CPU, cores, memory, OS, Python, the libraries, and the load."""
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(_meminfo_kb("MemTotal") / 1024 / 1024, 1),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "libraries": {name: _version(name) for name in ("hyperhome", "aiomqtt", "paho-mqtt", "amqtt", "pydantic")},
        "mosquitto": _mosquitto_version(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _meminfo_kb(key: str) -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _mosquitto_version() -> str | None:
    from hyperhome.broker.mosquitto import find_mosquitto

    binary = find_mosquitto()
    if binary is None:
        return None
    # mosquitto has no --version; its -h output starts with "mosquitto version 2.0.11"
    import subprocess

    try:
        out = subprocess.run([binary, "-h"], capture_output=True, text=True, timeout=5, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    first = out.splitlines()[0] if out else ""
    return first.removeprefix("mosquitto version ").strip() or None


# -- resources --------------------------------------------------------------------------------------
def rss_kb(pid: int | str = "self") -> int:
    """Resident memory of a process in KiB (``VmRSS`` in /proc/PID/status; 0 if unreadable)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) another process used so far, from /proc/PID/stat (0 if unreadable)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text.rsplit(")", 1)[-1].split()
    # after the command name: state is field 3, utime field 14, stime field 15 (proc(5))
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


# -- brokers and output ------------------------------------------------------------------------------
def broker_key(choice: BrokerChoice) -> str:
    """The JSON key of a broker: ``embedded``, ``mosquitto`` or ``url``."""
    return choice.kind


def figures_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    table = Table(*columns, title=title, title_justify="left")
    for row in rows:
        table.add_row(*(_cell(value) for value in row))
    return table


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "[red]no[/]"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def check(notes: list[str], ok: bool, text: str) -> str:
    """Add ``text`` to ``notes`` unless ``ok``; the cell text for a target column."""
    if not ok:
        notes.append(text)
    return "met" if ok else "[red]missed[/]"


def document(
    results: Sequence[BenchResult], settings: dict[str, Any], started: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The JSON of a run: the machine, the settings, each bench's figures, details and notes.

    ``started``: ``machine()`` as it was when the run began; the load average then and at the
    end are both kept (other work on the machine moves every figure).
    """
    now = machine()
    first = started or now
    doc: dict[str, Any] = {
        "machine": {**first, "load_average_at_end": now["load_average"]},
        "settings": settings,
    }
    for result in results:
        doc[result.name] = result.figures
    doc["details"] = {r.name: r.details for r in results if r.details}
    doc["notes"] = {r.name: r.notes for r in results if r.notes}
    return doc


def write_json(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


Progress = Callable[[str], None]
"""How a bench says what it is doing (the CLI prints it dimmed; tests pass a no-op)."""


def quiet(_: str) -> None:
    """A ``Progress`` that says nothing."""

"""reliability: nobody gets in, nothing is lost. The figures of issue 12, per broker.

``hyperhome bench reliability`` runs every section on every ``--broker`` and prints one table:
per section, attempts, refused, leaked, lost, duplicated and recovery seconds (``-`` where a
figure does not apply), with the machine it ran on. docs/RELIABILITY.md says what each row means.

Each section is one function of a broker and a size, and the suite's tests call the same
functions at a small size (tests/bench/test_reliability.py):

- ``access.acl_matrix``: forged publishes and forbidden subscriptions of every login of two homes;
- ``access.bad_logins``: wrong, missing and borrowed passwords, unknown users, anonymous;
- ``takeover.takeover_matrix``: CONNECTs under another client's id (no login, a wrong password,
  another valid login; clean and persistent sessions; same home and across homes) against a
  running home, counting impostors let in, victims affected and messages leaked;
- ``outage.broker_restarts``: pre-cool flows through a broker restart in scaled real time
  (flows lost, commands applied twice, seconds until every client and status is back);
- ``outage.link_scenarios`` and ``outage.link_drops``: the hand-off-on-a-bad-link scenarios, and
  drops and partitions of device links through the fault proxy (devices lost, seconds to be back);
- ``fuzz.fuzz``: bad payloads to every command of every device and of the orchestrator.

The ACL matrix, the bad logins, the takeover matrix, the restarts and the link faults need a
broker HyperHome runs (``embedded``, ``mosquitto``); on a broker by URL they are skipped (its
access control and its restarts are its operator's), and the fuzz runs alone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

from hyperhome.bench.reliability import access, fuzz, outage, takeover
from hyperhome.bench.reliability.rows import Row
from hyperhome.bench.report import BenchResult, Progress, broker_key, figures_table, machine, quiet
from hyperhome.broker.launch import BrokerChoice

__all__ = ["FULL", "SECTIONS", "Row", "Size", "run"]


@dataclass(frozen=True)
class Size:
    """How much each section does; ``FULL`` is the bench's, tests use less."""

    devices: int | None = None
    """ACL matrix and bad logins: the demo home's first ``devices`` devices (``None``: all nine)."""
    payloads: int = fuzz.PAYLOADS
    """Fuzz: bad payloads in all."""
    seed: int = fuzz.SEED
    """Fuzz: hypothesis's seed (fixed: every run sends the same payloads)."""
    takeovers: int = 3
    """Takeover: how many times the whole matrix runs (100 attempts each)."""
    restarts: int = 10
    """Broker restart: pre-cool flows run through a broker restart, one fresh home each."""
    link_faults: int = 10
    """Link faults: drops and partitions of device links through the fault proxy."""
    link_scenarios: bool = True
    """Link faults: run the three shipped hand-off-on-a-bad-link scenarios too."""


FULL = Size()

Section = Callable[[BrokerChoice, Size, Progress], Awaitable[list[Row]]]


async def _acl(choice: BrokerChoice, size: Size, progress: Progress) -> list[Row]:
    progress(f"ACL matrix on {choice.describe()}: every login of two homes, every forbidden topic and filter")
    return await access.acl_matrix(choice, devices=size.devices)


async def _bad_logins(choice: BrokerChoice, size: Size, progress: Progress) -> list[Row]:
    progress(f"bad logins on {choice.describe()}")
    return [await access.bad_logins(choice, devices=size.devices)]


async def _takeover(choice: BrokerChoice, size: Size, progress: Progress) -> list[Row]:
    progress(f"takeover matrix on {choice.describe()}: {size.takeovers} x 100 CONNECTs under another client's id")
    found = await takeover.takeover_matrix(choice.kind, size=size.takeovers, progress=progress)
    notes = found.failures[:10] + ([] if found.handoff_intact else ["the camera handoff did not survive"])
    return [
        Row(
            key="takeover",
            section="client-id takeover",
            attempts=found.attempts,
            refused=found.refused,
            leaked=found.accepted + found.messages_leaked,
            lost=found.victims_affected + found.offline_notices,
            details={**found.as_dict(), **({"notes": notes} if notes else {})},
        )
    ]


async def _fuzz(choice: BrokerChoice, size: Size, progress: Progress) -> list[Row]:
    return [await fuzz.fuzz(choice, payloads=size.payloads, seed=size.seed, progress=progress)]


async def _restart(choice: BrokerChoice, size: Size, progress: Progress) -> list[Row]:
    progress(f"broker restart on {choice.describe()}: {size.restarts} pre-cool flows, the broker down mid-flow")
    return [await outage.broker_restarts(choice, runs=size.restarts, progress=progress)]


async def _link_faults(choice: BrokerChoice, size: Size, progress: Progress) -> list[Row]:
    progress(f"link faults on {choice.describe()}: the hand-off scenarios, {size.link_faults} drops and partitions")
    rows = [await outage.link_scenarios(choice, progress=progress)] if size.link_scenarios else []
    return [*rows, await outage.link_drops(choice, runs=size.link_faults, progress=progress)]


SECTIONS: tuple[tuple[str, Section, bool], ...] = (
    # (name, section, whether it needs the contract's access control on the broker)
    ("acl", _acl, True),
    ("bad logins", _bad_logins, True),
    ("takeover", _takeover, True),
    ("restart", _restart, True),
    ("link faults", _link_faults, True),
    ("fuzz", _fuzz, False),
)
"""Every section, in the order the bench runs them on each broker."""


async def run(brokers: list[BrokerChoice], *, size: Size = FULL, progress: Progress = quiet) -> BenchResult:
    """Every section on every broker: the figures (JSON) by broker and row, and the table."""
    figures: dict[str, Any] = {}
    rows: dict[str, list[Row]] = {}
    skipped: dict[str, list[str]] = {}
    for choice in brokers:
        key = broker_key(choice)
        rows[key] = []
        for name, section, needs_contract in SECTIONS:
            if needs_contract and not choice.enforces_contract:
                progress(f"{name} on {choice.describe()}: skipped (its access control is its operator's)")
                skipped.setdefault(key, []).append(name)
                continue
            rows[key] += await section(choice, size, progress)
        figures[key] = {row.key: row.as_json() for row in rows[key]}
    notes = [note for key, broker_rows in rows.items() for row in broker_rows for note in _notes(key, row)]
    details = {"size": asdict(size), "skipped": skipped}
    return BenchResult("reliability", figures, details=details, table=_table(rows), notes=notes)


def _notes(broker: str, row: Row) -> list[str]:
    """What went wrong in ``row``: each a "target missed" line under the table and in the JSON."""
    where = f"{row.section} on {broker}"
    own = row.details.get("notes")
    if own is not None:  # the section says itself what went wrong, and in which class
        return [f"{where}: {note}" for note in own]
    counts = {"leaked": row.leaked, "lost": row.lost, "duplicated": row.duplicated}
    return [f"{where}: {count:,} of {row.attempts:,} {what}" for what, count in counts.items() if count]


def _table(rows: dict[str, list[Row]]) -> Any:
    here = machine()
    table_rows = [
        [
            broker,
            row.section,
            row.attempts,
            row.refused,
            _bad(row.leaked),
            _bad(row.lost),
            _bad(row.duplicated),
            row.recovery_s,
        ]
        for broker, broker_rows in rows.items()
        for row in broker_rows
    ]
    return figures_table(
        f"reliability: what the home refuses and keeps ({here['cpu']}, {here['cores']} cores)",
        ["broker", "check", "attempts", "refused", "leaked", "lost", "duplicated", "recovery s"],
        table_rows,
    )


def _bad(value: int | None) -> Any:
    """A failure count: red when it is not zero."""
    return f"[red]{value:,}[/]" if value else value

"""The manual clock with an outside client in the loop, on both brokers: an answer given within
the settle window is always handled at the instant it answers, before time moves on; a client
that never lets the home go quiet is reported by ``advance`` with what was busy, not overtaken.

The outside client is its own process (answerer.py, plain paho-mqtt) with the home's
integration login, as a user's service would be.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from hyperhome.devices.clock import ClockBusyError
from hyperhome.testing import TestHome

HOME = Path(__file__).resolve().parents[2] / "examples" / "precool_service" / "home.yaml"
ANSWERER = Path(__file__).with_name("answerer.py")
STEPS = 500
SETTLE_S = 0.1
"""Twice the default window: the suite runs on every core (pytest-xdist), and under that load an
outside process's answer came over 50 ms late once in the 4,000 answers of two full runs here;
the test is of the rule (an answer inside the window is handled in its instant), not of one
machine's scheduling."""


@asynccontextmanager
async def outside_client(home: TestHome, mode: str) -> AsyncIterator[None]:
    login = home.login("integration")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ANSWERER), home.url.host, str(home.url.port), login.username,
        f"{home.root}/{home.id}", mode,
        env={**os.environ, "ANSWERER_PASSWORD": login.password},
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(15):
            assert await proc.stdout.readline() == b"ready\n", "the outside client did not start"
        yield
    finally:
        proc.terminate()
        await proc.wait()


async def steps_with_an_answering_client(home: TestHome) -> tuple[int, list[str]]:
    """STEPS one-minute steps of a drive, each answered by the outside client: (answers, missed)."""
    await home.send("car", "drive.start", {"destination": "home", "distance_km": 350, "speed_kmh": 20})  # 17.5 h
    async with outside_client(home, "answer"):
        # a warm-up minute: a fresh Python process's first answer takes longer (first-call paths)
        await home.advance("1m")
        await home.messages("living-ac/reply").wait(1)
        counted_from = home.now + 1
        done = await home.advance(f"{STEPS}m", settle=SETTLE_S)
    assert done.steps >= STEPS
    states = [m for m in home.messages("car/state") if m.json().get("driven_km") and m.at >= counted_from]
    assert len(states) == STEPS
    replies = {m.json()["id"]: m.json() for m in home.messages("living-ac/reply")}
    # handled at its instant: the AC's reply to the answer carries the car state's simulated time
    return len(states), [s.ts for s in states if replies.get(f"ans-{s.ts}", {}).get("ts") != s.ts]


async def test_an_answer_within_the_settle_window_is_handled_before_time_moves_on(
    hyperhome: Any, mosquitto_available: None
) -> None:
    """Both brokers at once: the steps mostly wait for the settle window, so side by side they
    take about half the wall time. Answers under load on 2 cores took up to 19 ms typically, a few
    over 30 ms, and with the whole suite running beside them, now and then over 50 ms (``SETTLE_S``)."""
    brokers = ("embedded", "mosquitto")
    homes = [await hyperhome(home=HOME, broker=broker) for broker in brokers]
    results = await asyncio.gather(*(steps_with_an_answering_client(home) for home in homes))
    for broker, (answered, missed) in zip(brokers, results, strict=True):
        assert missed == [], f"{broker}: {len(missed)} of {answered} answers missed their instant: {missed[:5]}"


@pytest.mark.hyperhome_brokers
async def test_a_client_that_never_lets_the_home_go_quiet_is_reported_busy(hyperhome: Any) -> None:
    home: TestHome = await hyperhome(home=HOME, clock="manual")
    home.clock.timeout_s = 1.0
    async with outside_client(home, "loop"):
        await home.send("living-ac", "set", {"target_c": 22})
        await home.messages("living-ac/cmd/set").wait(3)  # the loop runs (in real time, between advances)
        before = home.now
        with pytest.raises(ClockBusyError) as busy:
            await home.advance("1m")
    text = str(busy.value)
    assert "still busy after 1 s of real time" in text, text
    assert f"{home.root}/{home.id}/living-ac/cmd/set (" in text, text  # names the topic the loop kept busy
    assert home.now == before, "time moved on while the home was busy"

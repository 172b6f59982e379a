"""Fixtures every test may use: which broker, the homes it serves, and that broker running.

``broker_kind`` runs a test once on the embedded broker and once on a managed Mosquitto;
without the ``mosquitto`` binary the second run is skipped (and fails under ``CI=true``).
Override ``homes`` in a test module to serve other homes.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from hyperhome.broker.credentials import HomeCredentials
from hyperhome.broker.embedded import EmbeddedBroker
from hyperhome.broker.mosquitto import MosquittoBroker, find_mosquitto

RunningBroker = EmbeddedBroker | MosquittoBroker


@pytest.fixture(params=["embedded", pytest.param("mosquitto", marks=pytest.mark.mosquitto)])
def broker_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    if kind == "mosquitto" and find_mosquitto() is None:
        reason = "the mosquitto binary is not installed (apt install mosquitto)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs mosquitto: {reason}")
        pytest.skip(reason)
    return kind


@pytest.fixture
def mosquitto_available() -> None:
    """For a test that runs on both brokers itself: skip without mosquitto (fail under CI=true)."""
    if find_mosquitto() is None:
        reason = "the mosquitto binary is not installed (apt install mosquitto)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs mosquitto: {reason}")
        pytest.skip(reason)


@pytest.fixture
def homes() -> list[HomeCredentials]:
    return [HomeCredentials.generate(home, ["cam", "lock"]) for home in ("home-a", "home-b")]


@pytest.fixture
async def running_broker(broker_kind: str, homes: list[HomeCredentials]) -> AsyncIterator[RunningBroker]:
    broker: RunningBroker = EmbeddedBroker(homes) if broker_kind == "embedded" else MosquittoBroker(homes)
    async with broker:
        yield broker

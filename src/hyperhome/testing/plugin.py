"""The ``hyperhome`` pytest plugin, installed with the package (entry point ``pytest11``).

It only adds fixtures, an option and a marker, so it changes nothing in a project that does not
use them:

- fixture ``hyperhome``: an async factory, ``home = await hyperhome(home="demo", clock="manual")``;
  every home it starts is stopped at the end of the test (docs/test-your-code.md);
- fixture ``hyperhome_broker``: the broker a home starts on unless the call says otherwise:
  ``embedded``, ``mosquitto`` (a managed Mosquitto) or the URL given by ``--hyperhome-broker``;
- marker ``@pytest.mark.hyperhome_brokers``: run the test once on the embedded broker and once on
  a managed Mosquitto (skipped without the ``mosquitto`` binary; a failure under ``CI=true``).

The fixture is async: it needs pytest-asyncio (``pip install 'hyperhome[pytest]'``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from hyperhome.testing.handle import ClockMode, TestHome, start_home

BROKERS = ("embedded", "mosquitto")
MARKER = "hyperhome_brokers"

HomeFactory = Callable[..., Awaitable[TestHome]]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hyperhome", "HyperHome test homes")
    group.addoption(
        "--hyperhome-broker",
        default=None,
        metavar="BROKER",
        help="broker for the hyperhome fixture's homes: embedded (default), mosquitto, or a URL "
        "mqtt://user:pass@host:port of a broker you run",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}: run a test that uses the hyperhome fixture on the embedded broker and on Mosquitto"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "hyperhome_broker" not in metafunc.fixturenames or metafunc.definition.get_closest_marker(MARKER) is None:
        return
    if metafunc.config.getoption("--hyperhome-broker"):
        return  # one broker chosen on the command line
    metafunc.parametrize("hyperhome_broker", BROKERS, indirect=True)


@pytest.fixture
def hyperhome_broker(request: pytest.FixtureRequest) -> str:
    """``embedded``, ``mosquitto`` or a URL: where the hyperhome fixture's homes start."""
    chosen = getattr(request, "param", None) or request.config.getoption("--hyperhome-broker") or "embedded"
    if chosen == "mosquitto" and shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        reason = "the mosquitto binary is not installed (apt-get install mosquitto)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs mosquitto: {reason}")
        pytest.skip(reason)
    return str(chosen)


async def _factory(hyperhome_broker: str) -> AsyncIterator[HomeFactory]:
    """``home = await hyperhome(home="demo", broker=None, clock="manual", settle="50ms")``."""
    async with contextlib.AsyncExitStack() as stack:

        async def factory(
            home: str | Path = "demo",
            *,
            broker: str | None = None,
            clock: ClockMode = "manual",
            settle: float | str = 0.05,
            automations: bool = True,
        ) -> TestHome:
            started = start_home(
                home, broker=broker or hyperhome_broker, clock=clock, settle=settle, automations=automations
            )
            return await stack.enter_async_context(started)

        yield factory


def _without_asyncio() -> Any:
    pytest.fail("the hyperhome fixture is async: pip install 'hyperhome[pytest]' (pytest-asyncio)")


hyperhome: Any  # the fixture: pytest-asyncio's, or one that says it is missing
try:
    import pytest_asyncio
except ImportError:  # the plugin must not break a project without pytest-asyncio
    hyperhome = pytest.fixture(name="hyperhome")(_without_asyncio)
else:
    hyperhome = pytest_asyncio.fixture(name="hyperhome")(_factory)

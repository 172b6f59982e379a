"""A real Home Assistant (``homeassistant==2024.3.3``) for the tests, headless, in its own venv.

The venv: ``$HYPERHOME_HA_VENV``, else ``~/.cache/hyperhome/ha-2024.3.3``; made when missing
(``python3.11 -m venv``, then ``pip install homeassistant==2024.3.3 paho-mqtt==1.6.1``: paho is
the one requirement of the MQTT integration, installed up front so the first start need not).
``.ci/run`` makes it before the tests (``python -m tests.homeassistant.harness``). The tests run
under ``CI=true`` or ``HYPERHOME_HA=1`` and skip otherwise, saying so.

``HomeAssistant(folder, broker)``: a configuration written here (``http`` on 127.0.0.1 and a free
port, the ``api``, an MQTT config entry pre-seeded in ``.storage/core.config_entries`` with the
home's ``home_assistant`` login, a long-lived token made through Home Assistant's own auth
manager, onboarding marked done), the process started, and its REST API (``get``, ``call``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from hyperhome.broker.credentials import HomeAssistantLogin
from tests.own_broker import free_port

VERSION = "2024.3.3"
PACKAGES = (
    f"homeassistant=={VERSION}",
    "paho-mqtt==1.6.1",
    "numpy==1.26.0",
    "ha-av==10.1.1",
    "PyTurboJPEG==1.7.1",
    "josepy<2",
)
"""Home Assistant and the requirements of what the test loads: the MQTT integration (paho) and the
camera, whose module imports the stream integration (numpy, av, turbojpeg): installed up front, so
the first start need not; josepy 1 because the acme that hass-nabucasa pins needs it (josepy 2
dropped ``ComparableX509``, and the http integration imports hass-nabucasa)."""
SIDE = Path(__file__).with_name("ha_side.py")
START_S = 240.0
"""Bound on Home Assistant's start (its first start installs what its integrations need)."""


def venv_dir() -> Path:
    configured = os.environ.get("HYPERHOME_HA_VENV")
    return Path(configured) if configured else Path.home() / ".cache" / "hyperhome" / f"ha-{VERSION}"


def enabled() -> bool:
    return os.environ.get("CI") == "true" or os.environ.get("HYPERHOME_HA") == "1"


def ensure_venv() -> Path:
    """The venv's python, made first if missing (minutes); reused when it has ``PACKAGES``
    (a marker file in it lists what was installed; a venv from another list is topped up)."""
    folder = venv_dir()
    python, marker = folder / "bin" / "python", folder / "hyperhome-packages.txt"
    wanted = "\n".join(PACKAGES)
    if python.is_file() and marker.is_file() and marker.read_text() == wanted:
        return python
    if not python.is_file():
        base = shutil.which("python3.11") or (sys.executable if sys.version_info[:2] == (3, 11) else None)
        if base is None:
            msg = "Home Assistant 2024.3 needs python3.11 on PATH"
            raise RuntimeError(msg)
        subprocess.run([base, "-m", "venv", str(folder)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *PACKAGES], check=True)
    marker.write_text(wanted)
    return python


def ha_python() -> Path:
    """The venv's python for a test: skipped unless enabled, made when missing."""
    if not enabled():
        reason = f"a real Home Assistant {VERSION}: set HYPERHOME_HA=1 (its venv is made at {venv_dir()} if missing)"
        pytest.skip(reason)
    return ensure_venv()


def validate(python: Path, items: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """Home Assistant's own DISCOVERY_SCHEMA's verdict on each ``(component, payload)``."""
    done = subprocess.run(
        [str(python), str(SIDE), "validate"],
        input=json.dumps(items),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    problems: list[str] = json.loads(done.stdout)
    return problems


@dataclass
class HomeAssistant:
    """One Home Assistant process pointed at a broker (see the module docstring)."""

    folder: Path
    host: str
    port: int
    login: HomeAssistantLogin
    python: Path
    http_port: int = field(default_factory=free_port)
    token: str = ""
    process: subprocess.Popen[bytes] | None = None
    api: httpx.AsyncClient | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def write_config(self) -> None:
        storage = self.folder / ".storage"
        storage.mkdir(parents=True, exist_ok=True)
        (self.folder / "configuration.yaml").write_text(
            "homeassistant:\n  name: HyperHome test\n  unit_system: metric\n  time_zone: UTC\n"
            "  latitude: 0\n  longitude: 0\n  elevation: 0\n  currency: EUR\n  country: DE\n"
            f"http:\n  server_host: 127.0.0.1\n  server_port: {self.http_port}\n"
            "api:\n"
            "logger:\n  default: warning\n  logs:\n    homeassistant.components.mqtt: info\n"
        )
        entry = {
            "entry_id": "hyperhome0mqtt0entry0000000000",
            "version": 1,
            "minor_version": 1,
            "domain": "mqtt",
            "title": self.host,
            "data": {
                "broker": self.host,
                "port": self.port,
                "username": self.login.username,
                "password": self.login.password,
                "client_id": self.login.client_id,
                "discovery": True,
                "discovery_prefix": self.login.prefix,
            },
            "options": {},
            "pref_disable_new_entities": False,
            "pref_disable_polling": False,
            "source": "user",
            "unique_id": None,
            "disabled_by": None,
        }
        entries = {"version": 1, "minor_version": 1, "key": "core.config_entries", "data": {"entries": [entry]}}
        (storage / "core.config_entries").write_text(json.dumps(entries))
        done = subprocess.run(
            [str(self.python), str(SIDE), "token", str(self.folder)],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        self.token = done.stdout.strip().splitlines()[-1]

    async def __aenter__(self) -> HomeAssistant:
        self.write_config()
        with (self.folder / "ha.log").open("wb") as log:
            self.process = subprocess.Popen(  # noqa: ASYNC220 - started once, waited on in a thread
                [str(self.python), "-m", "homeassistant", "-c", str(self.folder)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.api = httpx.AsyncClient(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"})
        try:
            await self.until(self._mqtt_loaded, START_S, "Home Assistant up with its MQTT entry loaded")
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.api is not None:
            await self.api.aclose()
        process = self.process
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                await asyncio.to_thread(process.wait, 30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                await asyncio.to_thread(process.wait)

    async def _mqtt_loaded(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            msg = f"Home Assistant exited with {self.process.returncode}: {self.log_tail()}"
            raise AssertionError(msg)
        try:
            entries = await self.get("/api/config/config_entries/entry")
        except httpx.HTTPError:
            return False
        return any(e["domain"] == "mqtt" and e["state"] == "loaded" for e in entries)

    def log_tail(self, lines: int = 40) -> str:
        path = self.folder / "ha.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    async def get(self, path: str) -> Any:
        assert self.api is not None
        response = await self.api.get(path, timeout=10)
        response.raise_for_status()
        return response.json() if "json" in response.headers.get("content-type", "") else response.content

    async def get_bytes(self, path: str) -> bytes:
        assert self.api is not None
        response = await self.api.get(path, timeout=10)
        response.raise_for_status()
        return response.content

    async def call(self, domain: str, service: str, **data: Any) -> None:
        assert self.api is not None
        response = await self.api.post(f"/api/services/{domain}/{service}", json=data, timeout=10)
        response.raise_for_status()

    async def template(self, text: str) -> str:
        """Home Assistant's rendering of a template (``POST /api/template``): the registries' view."""
        assert self.api is not None
        response = await self.api.post("/api/template", json={"template": text}, timeout=10)
        response.raise_for_status()
        return response.text

    async def states(self) -> dict[str, dict[str, Any]]:
        return {s["entity_id"]: s for s in await self.get("/api/states")}

    async def until(self, check: Callable[[], Any], bound_s: float, what: str) -> None:
        """Wait until ``await check()`` is true, polling Home Assistant's API, at most ``bound_s``."""
        deadline = time.monotonic() + bound_s
        while True:
            if await check():
                return
            if time.monotonic() > deadline:
                msg = f"not within {bound_s:g} s: {what}\n{self.log_tail()}"
                raise AssertionError(msg)
            await asyncio.sleep(0.2)  # Home Assistant's REST API has no long poll: poll it, bounded


@contextlib.asynccontextmanager
async def home_assistant(folder: Path, host: str, port: int, login: HomeAssistantLogin) -> AsyncIterator[HomeAssistant]:
    async with HomeAssistant(folder, host, port, login, ha_python()) as ha:
        yield ha


if __name__ == "__main__":  # .ci/run: make the venv before the tests (reused when it is there)
    sys.stderr.write(f"Home Assistant {VERSION} venv: {ensure_venv()}\n")

"""A managed Mosquitto: a child ``mosquitto`` process with the contract's logins and access control.

```python
async with MosquittoBroker([creds]) as broker:     # a free port on 127.0.0.1
    print(broker.host, broker.port, broker.conf_path)
```

Everything it needs is written into a private directory (mode 0700): ``mosquitto.conf``, the
configuration of Mosquitto's Dynamic Security plugin (``dynsec.json``: every login, its password
hashed, and the one client id it may connect with, ``identity.bound_client_id``), the
``acl_file`` rendered by ``acl.mosquitto_acl`` from the same rules the embedded broker uses, and
``mosquitto.log`` (errors and warnings only). A directory it created is removed on exit; a
``workdir`` given by the caller is kept, for reading.

Why the plugin: a ``password_file`` checks a login's password only, so any valid login could
connect with another client's id and Mosquitto would disconnect that client. The plugin refuses
a login's CONNECT with any client id but its pinned one (CONNACK 5, as for a wrong password), and
it does so before Mosquitto looks for a session under that id. It holds no roles: with every
default access ``false`` it leaves every publish and subscribe decision to the ``acl_file``.

The child dies with its owner: SIGTERM on leaving the context (SIGKILL if it lingers), and on
Linux the kernel sends SIGTERM if this process dies first (``PR_SET_PDEATHSIG``).

``restart(down_s)`` kills the child (SIGKILL, as a crash would: no last will is sent, no client
is told) and starts it again on the same port with the same files, for outage tests and the
scenario fault ``{broker: restart}``. The broker runs with ``persistence false``, so a restart
drops every retained message and every session: the clients must republish what they own.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ctypes
import hashlib
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, TYPE_CHECKING

from hyperhome.broker.acl import mosquitto_acl
from hyperhome.broker.identity import bound_client_id
from hyperhome.broker.restart import WhileDown, stay_down
from hyperhome.errors import BrokerError, ConfigError

if TYPE_CHECKING:
    from types import TracebackType

    from hyperhome.broker.credentials import HomeCredentials, Login, Principal

START_TIMEOUT_S = 10.0
START_S_PER_LOGIN = 0.002
START_S_PER_LOGIN_SQUARED = 3e-7
"""Mosquitto reads every login and its ACL at start, in a time that grows with the square of
their number (measured on 2 vCPUs: 3,000 logins 1.1 s, 6,000 3.4 s, 12,000 15 s; 18,672 did not
listen within a bound linear in them, 47 s, beside a loaded fleet), so the bound grows so too,
with about three times the measured time as headroom: 12,000 logins 77 s, 26,700 (a fleet of
20,000 devices) 277 s."""
STOP_TIMEOUT_S = 5.0
PASSWD_TIMEOUT_S = 60.0
_POLL_S = 0.02
_PR_SET_PDEATHSIG = 1
_SEARCH_PATH = os.pathsep.join(["/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin"])
# loaded here, not in the forked child (no dynamic loading between fork and exec)
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None

# Not 0 ("no limit"): Mosquitto 2.0.11 then counts every denied publish as over quota and
# disconnects the client. Large enough that the emulator's bursts are never dropped.
_MAX_QUEUED_MESSAGES = 1_000_000

_DYNSEC_PLUGIN = "mosquitto_dynamic_security.so"
_PLUGIN_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib", "/usr/lib64", "/usr/local/lib")
_DYNSEC_ITERATIONS = 101  # what mosquitto_ctrl uses


def find_mosquitto() -> str | None:
    """Path of the ``mosquitto`` binary (on PATH, or in the usual sbin directories), or None."""
    return _find_tool("mosquitto")


def _find_tool(name: str, *first_in: Path) -> str | None:
    path = os.pathsep.join([*map(str, first_in), os.environ.get("PATH", ""), _SEARCH_PATH])
    return shutil.which(name, path=path)


def find_dynsec_plugin(binary_dir: Path | None = None) -> str | None:
    """Path of Mosquitto's Dynamic Security plugin (it comes with mosquitto 2.0), or None."""
    dirs = [*([binary_dir.parent / "lib"] if binary_dir else []), *map(Path, _PLUGIN_DIRS)]
    for folder in dirs:
        for candidate in (folder / _DYNSEC_PLUGIN, folder / "mosquitto" / _DYNSEC_PLUGIN):
            if candidate.is_file():
                return str(candidate)
    return None


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


_PORT_ATTEMPTS = 5


def _free_port(host: str) -> int:
    with socket.socket(_family(host), socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _check_port_free(host: str, port: int) -> None:
    """Fail early if something listens there: it would answer our readiness probe instead."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            msg = f"mosquitto cannot listen on {host}:{port}: {exc.strerror or exc}"
            raise BrokerError(msg) from None


def _dies_with(parent_pid: int) -> Callable[[], None] | None:
    """A ``preexec_fn``: SIGTERM the child when the parent (thread) that started it dies (Linux)."""
    libc = _LIBC
    if libc is None:
        return None

    def preexec() -> None:  # pragma: no cover - runs in the child between fork and exec
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text)


def _dynsec_config(homes: Iterable[HomeCredentials]) -> str:
    """The Dynamic Security plugin's configuration: every login with its password (hashed as the
    plugin does: PBKDF2-SHA512, a random salt) and its one client id; no roles, no admin."""
    clients = []
    for creds in homes:
        for login, principal in creds.logins():
            if "\n" in login.username + login.password:
                msg = f"login {login.username!r}: Mosquitto needs usernames and passwords without newlines"
                raise ConfigError(msg)
            clients.append(_dynsec_client(login, bound_client_id(principal)))
    no_access = {"publishClientSend": False, "publishClientReceive": False, "subscribe": False, "unsubscribe": False}
    return json.dumps({"clients": clients, "groups": [], "roles": [], "defaultACLAccess": no_access}, indent=1)


def _dynsec_client(login: Login, client_id: str) -> dict[str, object]:
    salt = os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", login.password.encode(), salt, _DYNSEC_ITERATIONS)
    return {
        "username": login.username,
        "clientid": client_id,
        "password": base64.b64encode(digest).decode(),
        "salt": base64.b64encode(salt).decode(),
        "iterations": _DYNSEC_ITERATIONS,
        "roles": [],
    }


def _acl(homes: Iterable[HomeCredentials]) -> str:
    """The rules of every login, grouped by topic root (``mosquitto_acl`` renders one root)."""
    by_root: dict[str, list[tuple[str, Principal]]] = {}
    for creds in homes:
        by_root.setdefault(creds.root, []).extend((login.username, who) for login, who in creds.logins())
    return "\n".join(mosquitto_acl(logins, root) for root, logins in by_root.items())


class MosquittoBroker:
    """A ``mosquitto`` child process, an async context manager; see the module docstring.

    ``port=None`` picks a free port. ``binary`` defaults to ``find_mosquitto()``. After entering,
    ``.host``, ``.port``, ``.conf_path``, ``.dynsec_path``, ``.acl_path`` and ``.log_path`` say
    where it listens and what it was given.
    """

    def __init__(
        self,
        homes: Iterable[HomeCredentials],
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        workdir: Path | None = None,
        binary: str | None = None,
    ) -> None:
        self.homes = list(homes)
        self.host = host
        self._requested_port = port
        self.port: int | None = None
        self._workdir = workdir
        self._binary = binary
        self.dir: Path | None = None
        self._own_dir = False
        self._process: asyncio.subprocess.Process | None = None
        self._running_binary: str | None = None
        self._log: IO[bytes] | None = None

    # -- files ------------------------------------------------------------------------------
    @property
    def conf_path(self) -> Path:
        return self._path("mosquitto.conf")

    @property
    def dynsec_path(self) -> Path:
        return self._path("dynsec.json")

    @property
    def acl_path(self) -> Path:
        return self._path("acl")

    @property
    def log_path(self) -> Path:
        return self._path("mosquitto.log")

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        return self._process.pid if self._process is not None else None

    def _path(self, name: str) -> Path:
        if self.dir is None:
            msg = "MosquittoBroker has no files before it is entered"
            raise BrokerError(msg)
        return self.dir / name

    # -- life cycle ---------------------------------------------------------------------------
    async def __aenter__(self) -> MosquittoBroker:
        if self._process is not None:
            msg = "this MosquittoBroker is already running"
            raise BrokerError(msg)
        binary = self._binary or find_mosquitto()
        if binary is None:
            msg = "mosquitto not found on PATH or in /usr/sbin; install it (apt install mosquitto) or use 'embedded'"
            raise BrokerError(msg)
        try:
            await self._start(binary)
        except BaseException:
            await self._stop()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stop()

    async def _start(self, binary: str) -> None:
        self._make_dir()
        if self._requested_port is not None:
            _check_port_free(self.host, self._requested_port)
            self.port = self._requested_port
            await self._launch(binary)
            return
        for attempt in range(_PORT_ATTEMPTS):
            # a free port can be taken by another process between our look and mosquitto's bind
            self.port = _free_port(self.host)
            try:
                await self._launch(binary)
                return
            except BrokerError as exc:
                if "Address already in use" not in str(exc) or attempt == _PORT_ATTEMPTS - 1:
                    raise
                await self._stop_process()

    async def _launch(self, binary: str) -> None:
        await self._write_files(Path(binary).parent)
        self._log = self.log_path.open("wb")
        await self._spawn(binary)

    async def restart(self, down_s: float = 0, *, while_down: WhileDown | None = None) -> None:
        """Kill the broker, stay down ``down_s`` wall-clock seconds, and start it again on its port.

        The kill is SIGKILL: every connection drops without a DISCONNECT and no last will is
        published, as when the broker crashes or its machine loses power. Retained messages and
        sessions are gone afterwards (``persistence false``): what clients own, they republish when
        they reconnect. Returns once the new process accepts connections on the same host and port
        (the clients reconnect by themselves, with their backoff). ``while_down`` is awaited while
        the broker is down (its time counts towards ``down_s``), for a test to act in the outage.
        BrokerError if it is not running, or cannot start again (its port was taken meanwhile).
        """
        process, binary = self._process, self._running_binary
        if process is None or binary is None or process.returncode is not None:
            msg = "this MosquittoBroker is not running; nothing to restart"
            raise BrokerError(msg)
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        self._process = None
        await stay_down(down_s, while_down)
        try:
            _check_port_free(self.host, self._bound_port())
        except BrokerError as exc:
            msg = f"mosquitto cannot come back after its restart: {exc}"
            raise BrokerError(msg) from None
        await self._spawn(binary)

    def _bound_port(self) -> int:
        if self.port is None:
            msg = "this MosquittoBroker has no port yet"
            raise BrokerError(msg)
        return self.port

    async def _spawn(self, binary: str) -> None:
        """Start the ``mosquitto`` child on the files written, and wait until it listens."""
        assert self._log is not None
        self._running_binary = binary
        self._process = await asyncio.create_subprocess_exec(
            binary,
            "-c",
            str(self.conf_path),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
            start_new_session=True,  # Ctrl-C in a terminal reaches only us; we stop it in order
            preexec_fn=_dies_with(os.getpid()),
        )
        await self._wait_listening()

    def _make_dir(self) -> None:
        if self._workdir is None:
            self.dir = Path(tempfile.mkdtemp(prefix="hyperhome-mosquitto-"))  # mode 0700
            self._own_dir = True
        else:
            self._workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.dir = self._workdir

    async def _write_files(self, binary_dir: Path) -> None:
        plugin = find_dynsec_plugin(binary_dir)
        if plugin is None:
            msg = (
                f"mosquitto's Dynamic Security plugin ({_DYNSEC_PLUGIN}, part of mosquitto 2.0) was not found "
                f"in {', '.join(_PLUGIN_DIRS)}; HyperHome needs it to bind each client id to its login"
            )
            raise BrokerError(msg)
        _write_private(self.dynsec_path, _dynsec_config(self.homes))
        _write_private(self.acl_path, _acl(self.homes))
        _write_private(self.conf_path, self._conf(plugin))

    def _conf(self, plugin: str) -> str:
        return "\n".join(
            [
                "# Generated by HyperHome for one run. Do not edit.",
                # as root, Mosquitto would switch to user 'mosquitto', who cannot read this 0700 dir
                *(["user root"] if os.geteuid() == 0 else []),
                f"listener {self.port} {self.host}",
                "allow_anonymous false",
                # logins and their client ids (see the module docstring); the acl_file decides access
                f"plugin {plugin}",
                f"plugin_opt_config_file {self.dynsec_path}",
                f"acl_file {self.acl_path}",
                "persistence false",
                "log_dest stderr",
                "log_type error",
                "log_type warning",
                "sys_interval 0",
                "set_tcp_nodelay true",
                "max_inflight_messages 0",
                f"max_queued_messages {_MAX_QUEUED_MESSAGES}",
                "",
            ]
        )

    @property
    def start_timeout_s(self) -> float:
        """How long the child may take to listen: ``START_TIMEOUT_S`` plus what its logins take."""
        logins = sum(len(creds.logins()) for creds in self.homes)
        return START_TIMEOUT_S + START_S_PER_LOGIN * logins + START_S_PER_LOGIN_SQUARED * logins**2

    async def _wait_listening(self) -> None:
        assert self._process is not None
        bound = self.start_timeout_s
        try:
            async with asyncio.timeout(bound):
                while not await self._accepts():
                    if self._process.returncode is not None:
                        break
                    await asyncio.sleep(_POLL_S)
        except TimeoutError:
            msg = f"mosquitto did not listen on {self.host}:{self.port} within {bound:g} s{self._log_tail()}"
            raise BrokerError(msg) from None
        if self._process.returncode is not None:
            msg = f"mosquitto exited with code {self._process.returncode} at start{self._log_tail()}"
            raise BrokerError(msg)

    async def _accepts(self) -> bool:
        try:
            _reader, writer = await asyncio.open_connection(self.host, self.port)
        except OSError:
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True

    def _log_tail(self) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip()
        except (OSError, BrokerError):
            return ""
        return f": {text[-2000:]}" if text else ""

    async def _stop_process(self) -> None:
        process, self._process = self._process, None
        try:
            if process is not None:
                await _terminate(process)
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None

    async def _stop(self) -> None:
        try:
            await self._stop_process()
        finally:
            if self._own_dir and self.dir is not None:
                shutil.rmtree(self.dir, ignore_errors=True)
                self._own_dir = False


async def _hash_passwords(path: Path, binary_dir: Path) -> None:
    """Hash the plain ``user:password`` lines of a ``password_file`` in place, every login in one call
    (for a Mosquitto run from a password file, as the tests run an operator's own)."""
    tool = _find_tool("mosquitto_passwd", binary_dir)
    if tool is None:
        msg = f"mosquitto_passwd not found next to mosquitto ({binary_dir}) or on PATH (it comes with mosquitto)"
        raise BrokerError(msg)
    process = await asyncio.create_subprocess_exec(
        tool,
        "-U",
        str(path),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with asyncio.timeout(PASSWD_TIMEOUT_S):
            output, _ = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        msg = f"mosquitto_passwd -U did not finish within {PASSWD_TIMEOUT_S:g} s"
        raise BrokerError(msg) from None
    if process.returncode != 0:
        msg = f"mosquitto_passwd -U failed with code {process.returncode}: {output.decode(errors='replace').strip()}"
        raise BrokerError(msg)


async def _terminate(process: asyncio.subprocess.Process) -> None:
    """SIGTERM, then SIGKILL if it has not exited within STOP_TIMEOUT_S."""
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    try:
        async with asyncio.timeout(STOP_TIMEOUT_S):
            await process.wait()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()

"""Which MQTT client id a login may use: one rule, enforced by both brokers.

A broker closes the older of two connections with one client id, and (with a persistent
session) hands the newer one what the older subscribed to. So a client id must belong to one
login, or any login could disconnect any client, or read what it reads. The rule:

| login                                   | its one client id                   |
|-----------------------------------------|-------------------------------------|
| device ``d`` of home ``h``: ``h.d``     | ``h.d``                             |
| orchestrator: ``h.$orchestrator``       | ``h.$orchestrator``                 |
| clock: ``h.$clock``                     | ``h.$clock``                        |
| controller: ``h.$controller``           | ``h.$controller`` (a user's tool)   |
| controller seat ``n``: ``h.$controller-n`` | ``h.$controller-n`` (1..16)      |

that is, the client id is the username (``bound_client_id``), and a CONNECT with any other
client id, or without the login's password, is refused (CONNACK 5, "not authorised") before
anything of the session already under that client id is touched.

- The embedded broker asks ``may_connect`` for every CONNECT, before amqtt looks the client id up
  (``embedded._Broker``).
- The managed Mosquitto pins every login's client id in its Dynamic Security plugin
  (``mosquitto.py`` renders ``bound_client_id`` of each login), which refuses the same CONNECTs.

Several controllers of a home (CLI commands, the web API, scenario runs) may be connected at
once: each takes a free *seat* (``claim_seat``), a login of its own with the controller's
password, held with a lock in a private directory of this user until it disconnects. A seat's
holder could still take a sibling seat on purpose (they share a password): that is one login's
holder disconnecting itself, not another login's client.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import stat
import tempfile
from pathlib import Path

from hyperhome.broker.credentials import CONTROLLER_SEATS, Login, Principal, controller_seats
from hyperhome.errors import ConfigError

__all__ = ["CONTROLLER_SEATS", "Seat", "bound_client_id", "claim_seat", "client_id_of_login", "may_connect"]


def bound_client_id(principal: Principal) -> str:
    """The one client id ``principal``'s login may connect with: its username."""
    return principal.username


def client_id_of_login(username: str) -> str | None:
    """The one client id HyperHome's brokers let ``username`` connect with; None for a login that
    is not one of HyperHome's (an operator's own, on a broker by URL)."""
    principal = Principal.from_username(username)
    return bound_client_id(principal) if principal is not None else None


def may_connect(username: str | None, client_id: str | None) -> bool:
    """Whether the HyperHome login ``username`` may connect with ``client_id`` (its password aside)."""
    return username is not None and client_id is not None and client_id == client_id_of_login(username)


class Seat:
    """One controller seat held by this process: ``login`` to connect with, ``client_id`` its id.

    ``release()`` (or leaving ``with``) frees it; so does the process ending.
    """

    def __init__(self, login: Login, lock_fd: int) -> None:
        self.login = login
        self.client_id = login.username
        self._fd: int | None = lock_fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor releases its lock

    def __enter__(self) -> Seat:
        return self

    def __exit__(self, *_: object) -> None:
        self.release()


def claim_seat(
    home: str, controller: Login, *, count: int = CONTROLLER_SEATS, lock_dir: Path | None = None
) -> Seat | None:
    """A free one of the ``count`` seats of ``home``'s controller login (``HomeCredentials.seats``),
    or None if that login has no seats (an operator's own login on a broker by URL). ConfigError
    when every seat is taken."""
    seats = controller_seats(home, controller, count)
    if not seats:
        return None
    folder = lock_dir or _private_dir()
    # seats of one run of a home: its generated password tells runs apart, and is not revealed
    run = hashlib.sha256(f"{home}\0{controller.password}".encode()).hexdigest()[:24]
    for login, who in seats:
        fd = _try_lock(folder / f"{run}.{who.seat}.lock")
        if fd is not None:
            return Seat(login, fd)
    msg = (
        f"all {count} controller seats of home {home!r} are taken "
        "(other hyperhome commands, the web API or scenario runs are connected): stop one and try again"
    )
    raise ConfigError(msg)


def _try_lock(path: Path) -> int | None:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        msg = f"cannot open {path} (a controller seat's lock): {exc.strerror or exc}"
        raise ConfigError(msg) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _private_dir() -> Path:
    """``$XDG_RUNTIME_DIR/hyperhome/seats``, else ``{tmp}/hyperhome-{uid}/seats``: this user's only."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(runtime) / "hyperhome" if runtime else Path(tempfile.gettempdir()) / f"hyperhome-{os.getuid()}"
    folder = base / "seats"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        msg = f"cannot create {folder} (where controllers hold their seats): {exc.strerror or exc}"
        raise ConfigError(msg) from None
    for path in (base, folder):
        info = path.lstat()
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            msg = f"{path} must be a directory of this user (where controllers hold their seats)"
            raise ConfigError(msg)
        if info.st_mode & 0o077:
            path.chmod(0o700)
    return folder

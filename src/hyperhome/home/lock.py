"""One ``hyperhome up`` (or ``hyperhome broker``) per credentials file.

A second one on the same file would overwrite the first one's port and passwords, and the running
home could no longer be reached by ``devices``, ``send`` or any client reading the file. The
first holds an OS lock (``flock``) on ``FILE.lock``, next to the credentials file, for as long as
it runs; the OS releases it when the process ends however it ends, so an ``up`` that crashed or
was killed never leaves it stuck. The lock file holds the pid and the command, for the error the
second one prints.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from hyperhome.errors import ConfigError


def lock_path(credentials: Path) -> Path:
    return credentials.with_name(credentials.name + ".lock")


@contextlib.contextmanager
def credentials_lock(credentials: Path, command: str) -> Iterator[None]:
    """Hold the credentials file's lock for ``hyperhome COMMAND``; ConfigError naming the pid of
    the process that holds it already."""
    path = lock_path(credentials)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        msg = f"cannot create {path} (the lock of the credentials file): {exc.strerror or exc}"
        raise ConfigError(msg) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            msg = (
                f"{_holder(fd)} is already running with the credentials file {credentials}: "
                "stop it first, or give this one another --credentials FILE"
            )
            raise ConfigError(msg) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {command}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def _holder(fd: int) -> str:
    """``hyperhome up (pid 1234)``, from what the holder wrote into the lock file."""
    pid, _, command = os.pread(fd, 200, 0).decode(errors="replace").strip().partition(" ")
    if not pid.isdigit():
        return "another hyperhome up or broker"  # it has the lock but has not written its pid yet
    return f"hyperhome {command or 'up'} (pid {pid})"

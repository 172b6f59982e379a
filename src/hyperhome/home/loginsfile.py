"""Logins files (``--logins FILE``): one login per client on a broker given by URL.

YAML, or JSON (which YAML reads too); the format is ``ClientLogins``'s and
docs/point-at-mosquitto.md's. Mistakes are reported as ``FILE:LINE: field: message``, never
with a password in them.
"""

from __future__ import annotations

from pathlib import Path

from hyperhome.broker.credentials import ClientLogins
from hyperhome.errors import ConfigError
from hyperhome.home import yamlfile


def load_logins(path: Path) -> ClientLogins:
    """The logins of ``path``; ConfigError naming the file, line and field of a mistake."""
    data, lines = yamlfile.load(path)
    if data is None:
        msg = f"{path}:1: (top level): the file is empty; it needs orchestrator, controller and devices"
        raise ConfigError(msg)
    try:
        logins = yamlfile.validate_data(ClientLogins, data, lines, str(path))
    except ConfigError as exc:  # several mistakes: still one line
        raise ConfigError("; ".join(str(exc).splitlines())) from None
    return logins.located(f"{path}:{lines.get(('devices',), 1)}")

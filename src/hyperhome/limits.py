"""The process's open-files limit, raised for a process that holds thousands of connections.

Every MQTT connection is a descriptor here (two with the embedded broker) and one in a managed
Mosquitto, which inherits the limit: ``hyperhome bench density``, ``bench fleet`` and
``hyperhome fleet`` raise it before they connect.
"""

from __future__ import annotations

import contextlib
import resource

from hyperhome.errors import ConfigError


def raise_open_files_limit(needed: int) -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit, and the hard limit too when it is below
    ``needed`` and this process may (root, ``CAP_SYS_RESOURCE``); the soft limit now.

    ConfigError if the limit stays below ``needed``.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < needed:
        with contextlib.suppress(ValueError, OSError):  # not allowed: the error below says what to do
            resource.setrlimit(resource.RLIMIT_NOFILE, (needed, needed))
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, needed)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < needed:
        msg = (
            f"this needs about {needed:,} open files but the hard limit is {hard:,}; raise it (ulimit -Hn, "
            "or LimitNOFILE in systemd) or ask for fewer devices"
        )
        raise ConfigError(msg)
    return target

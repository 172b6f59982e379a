"""The open-files limit a fleet or a bench needs: raised to it, or one clear error."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import resource, sys
from hyperhome.errors import ConfigError
from hyperhome.limits import raise_open_files_limit
resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 4096))  # a low hard limit, as ulimit -Hn 4096 sets
try:
    print(raise_open_files_limit(int(sys.argv[1])), resource.getrlimit(resource.RLIMIT_NOFILE))
except ConfigError as exc:
    print("error:", exc)
"""


def _probe(needed: int) -> str:
    done = subprocess.run([sys.executable, "-c", PROBE, str(needed)], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_the_soft_limit_goes_up_to_the_hard_one() -> None:
    assert _probe(3000) == "4096 (4096, 4096)"


MAY_RAISE = """
import resource
resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 4096))
try:
    resource.setrlimit(resource.RLIMIT_NOFILE, (30000, 30000))
    print("yes")
except (ValueError, OSError):
    print("no")
"""


def _may_raise_a_hard_limit() -> bool:
    """Root with CAP_SYS_RESOURCE may (not root in every container)."""
    done = subprocess.run([sys.executable, "-c", MAY_RAISE], capture_output=True, text=True, check=True)
    return done.stdout.strip() == "yes"


def test_past_the_hard_limit_it_is_raised_where_allowed_else_one_clear_error() -> None:
    if _may_raise_a_hard_limit():
        assert _probe(30_000) == "30000 (30000, 30000)"
    else:
        assert _probe(30_000) == (
            "error: this needs about 30,000 open files but the hard limit is 4,096; raise it (ulimit -Hn, or "
            "LimitNOFILE in systemd) or ask for fewer devices"
        )

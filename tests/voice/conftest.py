"""The running-home fixtures of the integration tests (both brokers, virtual time)."""

from __future__ import annotations

from tests.integration.conftest import Recorder, controller, home, plan, recorder, with_faults  # noqa: F401

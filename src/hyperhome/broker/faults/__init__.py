"""Link faults users can script: a TCP proxy per device link, and what each fault means in time.

- ``proxy.LinkProxy``: the TCP fault proxy of one link (latency, stall, drop, refuse), wall time.
- ``links.LinkModel``: the same faults in simulated time, played by the virtual-time barrier.
- ``model``: ``LinkFault`` (what a scenario step or ``POST /api/faults`` asks) and ``LinkStatus``.

A home run with faults on (``Home(faults=True)``, ``hyperhome up --faults``, a scenario with a
``fault:`` step) puts one proxy in front of each device's connection; the orchestrator, the
controller and the clock connect directly. ``home/faults.py`` applies a ``LinkFault`` to a
running home; docs/scenarios.md ("Link faults") says what each one does in virtual and real time.
"""

from __future__ import annotations

from hyperhome.broker.faults.links import LinkModel
from hyperhome.broker.faults.model import BROKER_DOWN_S, FAULT_ACTIONS, BrokerFault, FaultControl, LinkFault, LinkStatus
from hyperhome.broker.faults.proxy import LinkProxy

__all__ = [
    "BROKER_DOWN_S",
    "FAULT_ACTIONS",
    "BrokerFault",
    "FaultControl",
    "LinkFault",
    "LinkModel",
    "LinkProxy",
    "LinkStatus",
]

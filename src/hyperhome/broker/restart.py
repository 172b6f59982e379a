"""What both managed brokers share for ``restart``: the outage itself, and the protocol.

``EmbeddedBroker.restart`` and ``MosquittoBroker.restart`` take a broker down and bring it back on
the same port, for outage tests and the scenario fault ``{broker: restart}``::

    async with Home(plan, broker="mosquitto") as home:
        await home.restart_broker(down_s=5)       # clients reconnect and republish by themselves

A broker given by URL is the operator's and has no restart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol

from hyperhome.errors import BrokerError

WhileDown = Callable[[], Awaitable[object]]
"""Awaited while the broker is down (its time counts towards ``down_s``)."""


class Restartable(Protocol):
    """A broker HyperHome runs itself and can take down and bring back."""

    host: str
    port: int | None

    async def restart(self, down_s: float = 0, *, while_down: WhileDown | None = None) -> None: ...


async def stay_down(down_s: float, while_down: WhileDown | None) -> None:
    """Wait ``down_s`` wall-clock seconds (an outage is about the network, not simulated time),
    running ``while_down`` first."""
    if down_s < 0:
        msg = f"down_s must be 0 or more, not {down_s:g}"
        raise BrokerError(msg)
    loop = asyncio.get_running_loop()
    until = loop.time() + down_s
    if while_down is not None:
        await while_down()
    left = until - loop.time()
    if left > 0:
        await asyncio.sleep(left)

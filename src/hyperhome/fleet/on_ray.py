"""Shards on a Ray cluster: one async actor per shard, placed and restarted by Ray.

``hyperhome fleet --ray auto`` (the cluster ``ray start`` made on this machine, or
``$RAY_ADDRESS``) or ``--ray ADDRESS`` (``ray://host:10001`` for Ray Client, ``host:6379`` from a
node of the cluster). Ray is an optional extra: ``pip install 'hyperhome[fleet]'``.

Each shard is a ``ShardActor``, an async actor (its methods run in one event loop in its own
worker process, which is the shard's loop), asking for ``num_cpus=1`` and spread over the nodes
(``scheduling_strategy="SPREAD"``). The fleet polls every actor's ``snapshot()`` about once a
second; that call also starts the shard the first time, in every life of the actor. When the
actor's process or its node dies, Ray starts it again (``max_restarts``), possibly elsewhere: the
broker has meanwhile published the last will (``offline``) of each of its devices, and the first
poll of the new life brings its homes back (they reconnect and republish what they own). Nothing
here speaks a protocol of its own: placement, restarts and calls are Ray's.

Ray keeps an actor's arguments in its cluster (the shard's spec holds the fleet secret): run the
fleet only on a cluster whose users may see its logins.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import ray
from ray.exceptions import RayError

from hyperhome.errors import ConfigError
from hyperhome.fleet.shard import Shard, ShardSpec

log = logging.getLogger(__name__)

MAX_RESTARTS = 20
CALL_TIMEOUT_S = 5.0
STOP_TIMEOUT_S = 60.0


class ShardActor:
    """One shard in a Ray actor's event loop (see the module docstring)."""

    def __init__(self, spec_json: str) -> None:
        self._spec = ShardSpec.model_validate_json(spec_json)
        self._shard: Shard | None = None
        self._task: asyncio.Task[None] | None = None

    def _started(self) -> Shard:
        if self._shard is None:
            logging.getLogger("amqtt").setLevel(logging.ERROR)
            self._shard = Shard(self._spec)
            self._task = asyncio.get_running_loop().create_task(self._shard.run(), name=f"shard:{self._spec.name}")
        return self._shard

    async def snapshot(self) -> dict[str, Any]:
        shard = self._started()
        if self._task is not None and self._task.done() and not self._task.cancelled():
            self._task.result()  # a shard that failed says why, to the fleet
        return {**shard.snapshot(), "node": ray.get_runtime_context().get_node_id()}

    async def stop(self) -> dict[str, Any]:
        shard = self._started()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        return {**shard.snapshot(), "node": ray.get_runtime_context().get_node_id(), "final": True}


class RayWorkers:
    """The fleet's ``Workers`` on Ray (fleet/run.py)."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._actors: dict[str, Any] = {}
        self._latest: dict[str, dict[str, Any]] = {}
        self._ours = False

    async def start(self, specs: list[ShardSpec]) -> None:
        if not ray.is_initialized():
            try:
                ray.init(address=self.address, logging_level=logging.WARNING, log_to_driver=False)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                msg = f"--ray {self.address}: no Ray cluster there ({exc}); start one with `ray start --head`"
                raise ConfigError(msg) from None
            self._ours = True
        remote = ray.remote(ShardActor).options(
            num_cpus=1, max_restarts=MAX_RESTARTS, max_task_retries=0, scheduling_strategy="SPREAD"
        )
        for spec in specs:
            self._actors[spec.name] = remote.remote(spec.model_dump_json())

    async def poll(self) -> dict[str, dict[str, Any]]:
        names = list(self._actors)
        results = await asyncio.gather(*(self._call(self._actors[n].snapshot) for n in names))
        for name, snap in zip(names, results, strict=True):
            if snap is not None:
                self._latest[name] = snap
            elif name in self._latest:  # down: nothing of it is online until Ray brings it back
                self._latest[name] = {**self._latest[name], "devices_online": 0, "homes_up": 0, "down": True}
        return dict(self._latest)

    async def _call(self, method: Any, timeout_s: float = CALL_TIMEOUT_S) -> dict[str, Any] | None:
        """A method's answer; None while its actor is down or restarting (Ray brings it back)."""
        try:
            async with asyncio.timeout(timeout_s):
                result: dict[str, Any] = await method.remote()
                return result
        except (RayError, TimeoutError) as exc:
            log.info("a shard actor did not answer: %s", exc)
            return None

    async def stop(self) -> dict[str, dict[str, Any]]:
        names = list(self._actors)
        finals = await asyncio.gather(*(self._call(self._actors[n].stop, STOP_TIMEOUT_S) for n in names))
        for name, snap in zip(names, finals, strict=True):
            if snap is not None:
                self._latest[name] = snap
            with contextlib.suppress(RayError):
                ray.kill(self._actors[name], no_restart=True)
        if self._ours:
            ray.shutdown()
        return dict(self._latest)

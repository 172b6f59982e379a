"""A fleet worker process: ``python -m hyperhome.fleet.worker``, one shard in one event loop.

The fleet starts one per ``--workers``; ``--shard I/N`` runs the same loop in the command's own
process. The shard's ``ShardSpec`` comes as one JSON line on stdin (it holds the fleet secret or
a broker password: never on a command line, which other users can read). The worker answers on
stdout with one JSON line per ``REPORT_S``: its counters (``Stats.snapshot``), and a last one,
``"final": true``, after SIGTERM (or SIGINT) stopped every home cleanly. Its stdout carries
nothing else; warnings go to stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
from collections.abc import Callable
from typing import Any

from hyperhome.fleet.shard import Shard, ShardSpec

REPORT_S = 1.0


async def serve(spec: ShardSpec, report: Callable[[dict[str, Any]], None], *, report_s: float = REPORT_S) -> None:
    """Run ``spec``'s shard and call ``report`` with a snapshot every ``report_s`` and once at
    the end (``final``), until cancelled or until SIGTERM/SIGINT."""
    shard = Shard(spec)
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, task.cancel)
    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(shard.run())
            while True:
                report(shard.snapshot())
                await asyncio.sleep(report_s)
    except asyncio.CancelledError:
        pass
    finally:
        report({**shard.snapshot(), "final": True})


def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("amqtt").setLevel(logging.ERROR)
    spec = ShardSpec.model_validate_json(sys.stdin.readline())

    def report(snapshot: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(snapshot) + "\n")
        sys.stdout.flush()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(spec, report))


if __name__ == "__main__":
    main()

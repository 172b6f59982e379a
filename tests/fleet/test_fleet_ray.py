"""``hyperhome fleet --ray``: shards as Ray actors on a two-node cluster started here, and a node
that dies: Ray starts its actor again on the other node, its homes' devices' last wills fire and
they come back online.

Needs Ray (``pip install 'hyperhome[fleet]'``) and mosquitto; skipped without them, failed
under ``CI=true``.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from hyperhome.broker.client import Endpoint, MqttConnector
from hyperhome.broker.credentials import Login
from hyperhome.broker.launch import BrokerChoice
from hyperhome.broker.topics import CONTROLLER, Topics
from hyperhome.broker.wire import OFFLINE, ONLINE
from hyperhome.fleet import homes
from hyperhome.fleet.run import FleetOptions, Progress, run_fleet
from hyperhome.home.homefile import load_home
from hyperhome.orchestrator.controller import Controller
from hyperhome.orchestrator.registry import DeviceView

HOMES, WORKERS = 6, 2
BACK_WITHIN_S = 60.0
"""Node death noticed (health checks every second, three missed), actor restarted, homes up again."""

pytestmark = pytest.mark.mosquitto


def _ray() -> Any:
    try:
        import ray.cluster_utils
    except ImportError:
        reason = "Ray is not installed: pip install 'hyperhome[fleet]'"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs Ray: {reason}")
        pytest.skip(reason)
    return ray.cluster_utils


@pytest.fixture
def cluster(mosquitto_available: None) -> Iterator[Any]:
    """A head node with two CPUs and a second node with one: a shard actor (one CPU) on each,
    and room on the head for the second node's when that node dies."""
    utils = _ray()
    config = {
        "health_check_period_ms": 1000,
        "health_check_failure_threshold": 3,
        "health_check_initial_delay_ms": 1000,
    }
    made = utils.Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "_system_config": config})
    try:
        made.add_node(num_cpus=1)
        made.wait_for_nodes()
        yield made
    finally:
        made.shutdown()


@pytest.mark.timeout(240)
async def test_shards_on_both_nodes_and_a_dead_node_s_homes_come_back(cluster: Any) -> None:
    demo = load_home("demo")
    secret = homes.new_secret()
    options = FleetOptions(
        template=demo,
        homes=HOMES,
        broker=BrokerChoice.parse("mosquitto"),
        workers=WORKERS,
        speed=10,
        duration_s=200,
        ray=cluster.address,
        secret=secret,
    )
    devices = HOMES * len(demo.devices)
    latest: list[Progress] = []
    changed = asyncio.Event()
    stop = asyncio.Event()

    def seen(progress: Progress) -> None:
        latest.append(progress)
        changed.set()

    async def until(what: Any, timeout_s: float) -> Progress:
        async with asyncio.timeout(timeout_s):
            while not (latest and what(latest[-1])):
                changed.clear()
                await changed.wait()
        return latest[-1]

    fleet = asyncio.create_task(run_fleet(options, progress=seen, stop=stop))
    try:
        up = await until(lambda p: p.total["devices_online"] == devices and len(p.workers) == WORKERS, 90)
        nodes = {w["worker"]: w["node"] for w in up.workers}
        assert len(set(nodes.values())) == WORKERS, nodes  # Ray spread the shards over both nodes
        second = cluster.list_all_nodes()[1]
        victim = next(name for name, node in nodes.items() if node == second.node_id)
        pid = next(w["pid"] for w in up.workers if w["worker"] == victim)
        # a home of the victim's shard, watched from outside the fleet under a controller seat
        index = 0 if victim == "w0" else HOMES - 1
        home = homes.home_id(demo, index)
        username = f"{home}.{CONTROLLER}"
        watch = Controller(
            MqttConnector(Endpoint(*up.broker)),
            Login(username=username, password=homes.password_of(secret, username)),
            Topics(home),
        )
        history: dict[str, list[str]] = {}

        def note(view: DeviceView, what: str) -> None:
            if what == "$availability" and view.availability is not None:
                history.setdefault(view.id, []).append(view.availability)

        watch.registry.on_change(note)
        async with watch:
            await watch.synced()
            assert all(v.online for v in watch.registry.devices.values())
            history.clear()
            killed_at = time.monotonic()
            cluster.remove_node(second, allow_graceful=False)  # the node dies, with the shard's process
            back = await until(
                lambda p: p.total["restarts"] >= 1 and p.total["devices_online"] == devices, BACK_WITHIN_S
            )
            took = time.monotonic() - killed_at
            for device in demo.devices:  # its last will, then online again
                assert history.get(device.id, [])[:1] == [OFFLINE], history
                assert history[device.id][-1] == ONLINE, history
        moved = {w["worker"]: w for w in back.workers}[victim]
        assert moved["pid"] != pid
        assert moved["node"] != second.node_id
        assert moved["homes_up"] == HOMES // WORKERS
        print(f"homes back {took:.1f} s after their node died")  # noqa: T201 (shown with -s)
    finally:
        stop.set()
        result = await asyncio.wait_for(fleet, 120)
    assert result.total["restarts"] == 1
    assert result.total["homes_up"] >= HOMES

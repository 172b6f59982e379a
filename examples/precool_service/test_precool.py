"""Tests of precool.py against a HyperHome home: a real broker, the service as its own process
with its own login, and time under the test's control (manual clock).

No conftest: the ``hyperhome`` fixture comes with the package (``pip install 'hyperhome[pytest]'``).
``@pytest.mark.hyperhome_brokers`` runs each test on the embedded broker and on Mosquitto.
"""

import asyncio
import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
SERVICE = Path(os.environ.get("PRECOOL_SERVICE", HERE / "precool.py"))  # the code under test
pytestmark = [pytest.mark.asyncio, pytest.mark.hyperhome_brokers]


async def start_service(home):
    """Run the service as a user would, with the home's integration login; wait until it listens."""
    login = home.login("integration")
    service = await asyncio.create_subprocess_exec(
        sys.executable, str(SERVICE), "--host", home.url.host, "--port", str(home.url.port),
        "--username", login.username, "--home", home.id,
        env={**os.environ, "PRECOOL_PASSWORD": login.password},
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(15):
        assert await service.stdout.readline() == b"ready\n", "the service did not start"
    return service


async def test_the_room_is_cool_when_the_car_arrives(hyperhome):
    home = await hyperhome(home=HERE / "home.yaml", clock="manual")
    service = await start_service(home)
    try:
        await home.send("car", "drive.start", {"destination": "home", "distance_km": 30})  # 40 min at 45 km/h
        await home.wait_for(device="car", event="arrived", timeout="45m")
    finally:
        service.terminate()
        await service.wait()

    near = [m for m in home.messages("car/state") if (m.json()["minutes_to_arrival"] or 99) < 15]
    assert near, "the car never reported an ETA under 15 minutes"
    switched = home.messages("living-ac/cmd/set")
    assert len(switched) == 1, f"expected one command to the AC, got {len(switched)}: {list(switched)}"
    command = switched[0]
    assert command.at == near[0].at, (
        f"the service switched the AC on at {command.ts}; expected at {near[0].ts}, "
        "when the car first reported an ETA under 15 minutes"
    )
    assert command.json()["id"].startswith(home.login("integration").username), "not sent by the service's login"
    assert command.json()["args"] == {"power": True, "mode": "cool", "target_c": 24}
    room = home.state("living-ac")["room_temp_c"]
    assert abs(room - 24) <= 0.3, f"the living room was at {room} °C when the car arrived, expected 24 °C"


async def test_a_cool_room_is_left_alone(hyperhome):
    home = await hyperhome(home=HERE / "home.yaml")
    await home.send("living-ac", "simulate.outdoor", {"outdoor_temp_c": 20})
    await home.advance("2h")  # the room cools down to the outdoor 20 °C by itself
    assert home.state("living-ac")["room_temp_c"] < 26
    service = await start_service(home)
    try:
        await home.send("car", "drive.start", {"destination": "home", "distance_km": 30})
        await home.wait_for(device="car", event="arrived", timeout="45m")
    finally:
        service.terminate()
        await service.wait()
    assert not home.messages("living-ac/cmd/set"), "the service switched the AC on in a room below 26 °C"

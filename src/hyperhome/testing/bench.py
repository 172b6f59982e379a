"""Wall time of the manual clock with an outside client in the loop, on both brokers.

    python -m hyperhome.testing.bench [--json FILE] [--minutes N]

A car drives home; every one-minute step its state goes to an outside paho client (a thread of
this process, the home's integration login), which answers at once with a command to the AC; the
step ends once the home was quiet for the settle window (50 ms). Prints wall seconds per
simulated hour and per advance step, and per step without the outside client; writes them as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from hyperhome.testing.handle import TestHome, start_home

HOME = Path(__file__).resolve().parents[3] / "examples" / "precool_service" / "home.yaml"


def _answerer(home: TestHome, ready: threading.Event) -> mqtt.Client:
    login = home.login("integration")
    base = f"{home.root}/{home.id}"
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=login.client_id)
    client.username_pw_set(login.username, login.password)
    client.on_connect = lambda c, *_: c.subscribe(f"{base}/car/state", qos=1)
    client.on_subscribe = lambda *_: ready.set()

    def on_message(c: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        state = json.loads(message.payload)
        if not message.retain and state.get("driven_km"):
            c.publish(f"{base}/living-ac/cmd/set", json.dumps({"args": {"target_c": 20}}), qos=1)

    client.on_message = on_message
    client.connect(home.url.host, home.url.port)
    client.loop_start()
    return client


async def measure(broker: str, minutes: int, outside: bool) -> dict[str, float]:
    async with start_home(HOME, broker=broker) as home:
        client = None
        if outside:
            ready = threading.Event()
            client = _answerer(home, ready)
            await asyncio.to_thread(ready.wait, 15)
        await home.send("car", "drive.start", {"destination": "home", "distance_km": 350, "speed_kmh": 20})
        await home.advance("1m")  # warm-up
        started = time.perf_counter()
        done = await home.advance(f"{minutes}m")
        wall = time.perf_counter() - started
        if client is not None:
            client.disconnect()
            client.loop_stop()
        return {
            "wall_s": round(wall, 3),
            "steps": done.steps,
            "wall_s_per_sim_hour": round(wall * 60 / minutes, 3),
            "wall_ms_per_step": round(wall * 1000 / done.steps, 2),
        }


async def main(minutes: int) -> dict[str, Any]:
    out: dict[str, Any] = {"settle_ms": 50, "minutes": minutes}
    for broker in ("embedded", "mosquitto"):
        out[broker] = {
            "outside_client": await measure(broker, minutes, outside=True),
            "no_outside_client": await measure(broker, minutes, outside=False),
        }
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", type=Path, default=Path("manual-clock-bench.json"))
    parser.add_argument("--minutes", type=int, default=60)
    args = parser.parse_args()
    figures = asyncio.run(main(args.minutes))
    text = json.dumps(figures, indent=2)
    sys.stdout.write(text + "\n")
    args.json.write_text(text + "\n")

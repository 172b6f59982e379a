"""An outside client for the manual-clock tests, run as its own process (plain paho-mqtt).

``answer``: every minute of a drive (a car state with ``driven_km``), send the living-room AC a
command whose id names that minute. ``loop``: answer every AC state with a command that changes
it again (a feedback loop that never lets the home go quiet). Prints ``ready`` once subscribed.

    ANSWERER_PASSWORD=... python answerer.py HOST PORT USERNAME BASE {answer,loop}
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


def main() -> None:
    host, port, username, base, mode = sys.argv[1:6]
    cmd = f"{base}/living-ac/cmd/set"

    def on_connect(client: mqtt.Client, *_: Any) -> None:
        client.subscribe(f"{base}/+/state", qos=1)

    def on_subscribe(*_: Any) -> None:
        sys.stdout.write("ready\n")
        sys.stdout.flush()

    def on_message(client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if message.retain:
            return
        state = json.loads(message.payload)
        if mode == "answer" and message.topic.endswith("/car/state") and state.get("driven_km"):
            command = {"id": f"ans-{state['ts']}", "args": {"target_c": 16 + int(state["driven_km"] * 10) % 14}}
            client.publish(cmd, json.dumps(command), qos=1)
        elif mode == "loop" and message.topic.endswith("/living-ac/state"):
            client.publish(cmd, json.dumps({"args": {"target_c": 20 if state["target_c"] != 20 else 21}}), qos=1)

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=username)
    client.username_pw_set(username, os.environ["ANSWERER_PASSWORD"])
    client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
    client.connect(host, int(port))
    client.loop_forever()


if __name__ == "__main__":
    main()

"""Pre-cool the living room before the car gets home: a service of the kind a user writes.

When the car's ETA is under 15 minutes and the living room is above 26 °C, switch the AC to
cool at 24 °C, once. Plain paho-mqtt; nothing of HyperHome is imported.

    PRECOOL_PASSWORD=... python precool.py --host 127.0.0.1 --port 1883 --username precool.\\$integration
"""

import argparse
import json
import os

import paho.mqtt.client as mqtt

ETA_UNDER_MIN = 15.0
ROOM_ABOVE_C = 26.0
TARGET_C = 24


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--username", required=True)  # also the client id: the broker binds them
    parser.add_argument("--home", default="precool")
    args = parser.parse_args()
    base = f"hyperhome/{args.home}"
    seen: dict[str, dict] = {}
    sent = False

    def on_connect(client, userdata, flags, reason, properties):
        client.subscribe([(f"{base}/car/state", 1), (f"{base}/living-ac/state", 1)])

    def on_subscribe(client, userdata, mid, reasons, properties):
        print("ready", flush=True)  # noqa: T201 - a test waits for this line

    def on_message(client, userdata, message):
        nonlocal sent
        seen[message.topic.split("/")[-2]] = json.loads(message.payload)
        eta = seen.get("car", {}).get("minutes_to_arrival")
        room = seen.get("living-ac", {}).get("room_temp_c")
        if not sent and eta is not None and room is not None and eta < ETA_UNDER_MIN and room > ROOM_ABOVE_C:
            command = {"id": f"{args.username}-precool", "args": {"power": True, "mode": "cool", "target_c": TARGET_C}}
            client.publish(f"{base}/living-ac/cmd/set", json.dumps(command), qos=1)
            sent = True

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=args.username)
    client.username_pw_set(args.username, os.environ["PRECOOL_PASSWORD"])
    client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
    client.connect(args.host, args.port)
    client.loop_forever()


if __name__ == "__main__":
    main()

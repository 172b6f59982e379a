#!/usr/bin/env bash
# The precool check from any language: a home on a manual clock (`hyperhome up --clock manual`),
# the service as its own process, the car sent home with mosquitto_pub, time driven with curl
# and `hyperhome clock advance`, and the result read back with curl and jq.
# Needs: hyperhome, python3 with paho-mqtt, mosquitto_pub, curl, jq. Exit 0 when the check holds.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
broker_port="$(free_port)"; api_port="$(free_port)"; api="http://127.0.0.1:$api_port"
creds="$work/credentials.json"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait || true; rm -rf "$work"; }
trap cleanup EXIT
wait_for() {  # wait_for SECONDS COMMAND...: run COMMAND until it succeeds, at most SECONDS
    local deadline=$((SECONDS + $1)); shift
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then echo "FAIL: timed out waiting for: $*" >&2; exit 1; fi
        sleep 0.1
    done
}

hyperhome up --home "$here/home.yaml" --clock manual --port "$broker_port" --api-port "$api_port" \
    --credentials "$creds" >"$work/up.log" 2>&1 &
pids+=($!)
wait_for 60 curl -sf "$api/api/health"

login() { jq -r ".$1.$2" "$creds"; }
PRECOOL_PASSWORD="$(login integration password)" python3 "${PRECOOL_SERVICE:-$here/precool.py}" \
    --port "$broker_port" --username "$(login integration username)" --home precool >"$work/service.log" 2>&1 &
pids+=($!)
wait_for 30 grep -q ready "$work/service.log"

controller="$(login controller username)"
mosquitto_pub -h 127.0.0.1 -p "$broker_port" -u "$controller" -i "$controller" -P "$(login controller password)" \
    -q 1 -t hyperhome/precool/car/cmd/drive.start -m '{"id": "sh-1", "args": {"destination": "home", "distance_km": 30}}'

# 40 minutes of driving: 20 with the CLI, the rest (and a margin) over HTTP
hyperhome clock advance 20m --credentials "$creds" >/dev/null
curl -sf -X POST "$api/api/clock/advance" -H 'content-type: application/json' -d '{"by": "25m"}' >/dev/null

car="$(curl -sf "$api/api/devices/car" | jq -c .state)"
ac="$(curl -sf "$api/api/devices/living-ac" | jq -c .state)"
jq -e '.location == "home"' <<<"$car" >/dev/null || { echo "FAIL: the car is not home: $car" >&2; exit 1; }
if ! jq -e '.power and .mode == "cool" and .target_c == 24 and (.room_temp_c - 24 | fabs) <= 0.3' <<<"$ac" >/dev/null; then
    echo "FAIL: the living room is not cooled to 24 °C on arrival: $ac" >&2
    exit 1
fi
echo "OK: the car is home and the living room is at $(jq .room_temp_c <<<"$ac") °C"

"""Every REST route against a real home on both brokers, with the HTTP statuses a client acts on."""

from __future__ import annotations

import time

import pytest

from hyperhome.web import Settings
from tests.web.conftest import Web

CAMERA_HANDOFF = {
    "call_device": "tablet",
    "source": {"device": "phone", "stream": "rear"},
    "fps": 30,
    "user": "alice",
}


async def test_home_names_itself_its_orchestrator_and_the_simulated_time(web: Web) -> None:
    response = await web.client.get("/api/home")
    assert response.status_code == 200
    body = response.json()
    assert body["home"] == "demo"
    assert body["name"] == "Alice's apartment"
    assert body["orchestrator"] == "online"
    assert body["clock"]["mode"] == "realtime"
    assert body["clock"]["speed"] == 1.0
    assert body["scenarios"] is False


async def test_devices_come_with_meta_state_and_availability(web: Web) -> None:
    response = await web.client.get("/api/devices")
    assert response.status_code == 200
    devices = {d["id"]: d for d in response.json()}
    assert sorted(devices) == sorted(d.id for d in web.home.plan.devices)
    assert all(d["availability"] == "online" and d["online"] for d in devices.values())
    ac = devices["living-ac"]
    assert ac["kind"] == "air_conditioner"
    assert ac["room"] == "living"
    assert "set" in ac["meta"]["commands"]
    assert ac["state"]["room_temp_c"] == 31.0

    one = await web.client.get("/api/devices/phone")
    assert one.status_code == 200
    assert one.json()["owner"] == "alice"

    missing = await web.client.get("/api/devices/toaster")
    assert missing.status_code == 404
    assert missing.json()["code"] == "unknown_device"


async def test_a_command_answers_with_the_devices_reply_and_the_state_follows(web: Web) -> None:
    response = await web.client.post("/api/devices/living-ac/commands/set", json={"power": True, "target_c": 24})
    assert response.status_code == 200
    reply = response.json()
    assert reply["ok"] is True
    assert reply["command"] == "set"
    assert reply["result"]["minutes_to_target"] > 0
    # the device publishes its state before its reply, so the API's registry already has it
    state = (await web.client.get("/api/devices/living-ac")).json()["state"]
    assert state["power"] is True
    assert state["target_c"] == 24.0


async def test_invalid_args_are_422_with_the_devices_reason(web: Web) -> None:
    response = await web.client.post("/api/devices/living-ac/commands/set", json={"target_c": 99})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid_args"
    assert body["detail"] == "target_c: Input should be less than or equal to 30"
    assert body["reply"]["ok"] is False
    not_an_object = await web.client.post("/api/devices/living-ac/commands/set", json=[24])
    assert not_an_object.status_code == 422
    state = (await web.client.get("/api/devices/living-ac")).json()["state"]
    assert state["target_c"] == 26.0, "a refused command changes nothing"


async def test_unknown_device_or_command_is_404(web: Web) -> None:
    ghost = await web.client.post("/api/devices/toaster/commands/set", json={})
    assert ghost.status_code == 404
    assert ghost.json()["code"] == "unknown_device"
    no_such = await web.client.post("/api/devices/living-ac/commands/fly", json={})
    assert no_such.status_code == 404
    assert no_such.json()["code"] == "unknown_command"
    assert "set" in no_such.json()["detail"], "the error lists the commands the device has"
    wildcard = await web.client.post("/api/devices/%2B/commands/set", json={})
    assert wildcard.status_code == 404, "a topic wildcard is not a device"


async def test_a_refused_command_is_409(web: Web) -> None:
    response = await web.client.post("/api/devices/door-lock/commands/unlock", json={"method": "pin", "pin": "000000"})
    assert response.status_code == 409
    assert response.json()["code"] == "rejected"
    assert "wrong PIN" in response.json()["detail"]


async def test_an_offline_device_is_503(web: Web) -> None:
    async with web.events("speaker/$availability", snapshot=False) as events:
        await web.home.devices["speaker"].stop()
        await events.next(lambda m: m["type"] == "availability" and m["data"] == "offline")
    response = await web.client.post("/api/devices/speaker/commands/say", json={"text": "hello"})
    assert response.status_code == 503
    assert response.json() == {"detail": "speaker is offline", "code": "offline", "reply": None}
    view = (await web.client.get("/api/devices/speaker")).json()
    assert view["availability"] == "offline"
    assert view["online"] is False


async def test_no_reply_in_time_is_504(web: Web, settings: Settings) -> None:
    # a hung device: online, but it no longer hears its commands
    device = web.home.devices["bedroom-ac"]
    assert device.bus is not None
    await device.bus.unsubscribe(web.home.topics.cmd("bedroom-ac", "#"))
    started = time.perf_counter()
    response = await web.client.post("/api/devices/bedroom-ac/commands/power", json={"on": True})
    waited = time.perf_counter() - started
    assert response.status_code == 504
    assert response.json()["code"] == "timeout"
    assert settings.reply_timeout_s <= waited < settings.reply_timeout_s + 2


async def test_a_flow_is_started_read_listed_and_cancelled(web: Web) -> None:
    async with web.events("$orchestrator/flow/+", "living-ac/state", snapshot=False) as events:
        started = await web.client.post("/api/flows/precool", json={"start_now": True, "user": "alice"})
        assert started.status_code == 201
        flow_id = started.json()["flow_id"]
        assert started.headers["location"] == f"/api/flows/{flow_id}"
        assert started.json()["status"]["kind"] == "precool"
        await events.next(
            lambda m: (
                m["type"] == "flow"
                and m["data"]["id"] == flow_id
                and any(s["name"] == "start_ac" and s["state"] == "done" for s in m["data"]["steps"])
            )
        )
        status = (await web.client.get(f"/api/flows/{flow_id}")).json()
        assert status["state"] == "running"
        assert status["user"] == "alice"
        assert (await web.client.get("/api/devices/living-ac")).json()["state"]["power"] is True
        listed = (await web.client.get("/api/flows")).json()
        assert flow_id in [f["id"] for f in listed]

        cancelled = await web.client.delete(f"/api/flows/{flow_id}")
        assert cancelled.status_code == 200
        assert cancelled.json()["state"] == "cancelled"
        off = await events.next(lambda m: m["type"] == "state" and m["data"]["power"] is False)
        assert off["device"] == "living-ac", "cancelling switches off the AC the flow started"
    again = await web.client.delete(f"/api/flows/{flow_id}")
    assert again.status_code == 409
    assert again.json()["code"] == "rejected"


async def test_flow_refusals_have_their_http_status(web: Web) -> None:
    unknown = await web.client.post("/api/flows/teleport", json={})
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "unknown_command"
    invalid = await web.client.post("/api/flows/camera_handoff", json={"user": "alice"})
    assert invalid.status_code == 422
    assert "call_device" in invalid.json()["detail"]
    stranger = await web.client.post("/api/flows/precool", json={"start_now": True, "user": "mallory"})
    assert stranger.status_code == 403
    assert stranger.json()["code"] == "forbidden"
    not_in_a_call = await web.client.post("/api/flows/camera_handoff", json=CAMERA_HANDOFF)
    assert not_in_a_call.status_code == 409
    assert not_in_a_call.json()["code"] == "rejected"
    for method, path in (("GET", "/api/flows/f-999"), ("DELETE", "/api/flows/f-999")):
        response = await web.client.request(method, path)
        assert response.status_code == 404, path
        assert response.json()["code"] == "unknown_flow"
    cancel_by_post = await web.client.post("/api/flows/flow.cancel", json={"flow_id": "f-1"})
    assert cancel_by_post.status_code == 404


@pytest.mark.parametrize("orchestrator", [False])
@pytest.mark.parametrize("broker_kind", ["embedded"])
async def test_flows_without_an_orchestrator_are_503(web: Web) -> None:
    assert (await web.client.get("/api/home")).json()["orchestrator"] is None
    response = await web.client.post("/api/flows/precool", json={"start_now": True, "user": "alice"})
    assert response.status_code == 503
    assert response.json()["code"] == "offline"


@pytest.mark.parametrize("broker_kind", ["embedded"])
async def test_scenario_routes_say_when_this_server_runs_none(web: Web) -> None:
    for method, path in (("GET", "/api/scenarios"), ("POST", "/api/scenarios/x/runs"), ("GET", "/api/runs/r-1")):
        response = await web.client.request(method, path)
        assert response.status_code == 503, path
        assert response.json()["code"] == "not_connected"


@pytest.mark.parametrize("broker_kind", ["embedded"])
async def test_other_sites_cannot_drive_the_home(web: Web) -> None:
    command = "/api/devices/living-ac/commands/set"
    evil = await web.client.post(command, json={"power": True}, headers={"Origin": "http://evil.example"})
    assert evil.status_code == 403
    assert evil.json()["code"] == "cross_origin"
    assert (await web.client.get("/api/devices/living-ac")).json()["state"]["power"] is False
    own = await web.client.post(command, json={"power": True}, headers={"Origin": web.url.rstrip("/")})
    assert own.status_code == 200, "the dashboard's own page may"
    rebound = await web.client.get("/api/devices", headers={"Host": "evil.example"})
    assert rebound.status_code == 400, "DNS rebinding: a foreign Host is refused"
    huge = await web.client.post(
        command, content=b'{"x": "' + b"a" * 70_000 + b'"}', headers={"content-type": "application/json"}
    )
    assert huge.status_code == 413


@pytest.mark.parametrize("broker_kind", ["embedded"])
async def test_openapi_docs_and_the_dashboard_are_served_without_a_cdn(web: Web) -> None:
    spec = (await web.client.get("/openapi.json")).json()
    assert set(spec["paths"]) >= {
        "/api/home",
        "/api/devices",
        "/api/devices/{device_id}",
        "/api/devices/{device_id}/commands/{command}",
        "/api/flows",
        "/api/flows/{kind}",
        "/api/flows/{flow_id}",
        "/api/scenarios",
        "/api/scenarios/{name}/runs",
        "/api/runs",
        "/api/runs/{run_id}",
    }
    command = spec["paths"]["/api/devices/{device_id}/commands/{command}"]["post"]
    assert {"404", "422", "503", "504"} <= set(command["responses"])
    docs = await web.client.get("/docs")
    assert docs.status_code == 200
    assert "//cdn" not in docs.text, "Swagger UI is served from this server (works offline)"
    page = await web.client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "/static/app.js" in page.text
    for asset in ("/static/app.js", "/static/style.css"):
        served = await web.client.get(asset)
        assert served.status_code == 200, asset
        assert "http://" not in served.text
        assert "https://" not in served.text, f"{asset} loads nothing from elsewhere"


async def test_a_second_precool_for_the_same_ac_is_409_naming_the_running_flow(web: Web) -> None:
    plan = {"ac": "living-ac", "start_now": True, "user": "alice"}
    first = await web.client.post("/api/flows/precool", json=plan)
    assert first.status_code == 201
    flow_id = first.json()["flow_id"]
    second = await web.client.post("/api/flows/precool", json=plan)  # the same tap, from the dashboard
    assert second.status_code == 409
    body = second.json()
    assert body["code"] == "rejected"
    assert body["detail"] == f"precool {flow_id} already pre-cools living-ac to 24 °C for now (start_now)"
    assert body["reply"]["error"] == {"code": "rejected", "message": body["detail"]}
    assert (await web.client.delete(f"/api/flows/{flow_id}")).status_code == 200

"""The car's on-board assistant, alone: seat-zone voice commands for the car's own functions work
with no internet and no orchestrator at all; requests for the home then get "no connection"."""

from __future__ import annotations

from typing import Any

import pytest

from hyperhome.broker.topics import ORCHESTRATOR
from hyperhome.broker.wire import ONLINE
from hyperhome.devices.car import Car
from hyperhome.devices.components.cabin import ZONES
from hyperhome.devices.testing import DeviceHarness
from hyperhome.home.homefile import load_home
from hyperhome.home.runtime import Home


def car(**kwargs: Any) -> DeviceHarness[Car]:
    return DeviceHarness(Car, device_id="car", owner="alice", **kwargs)


async def offline(h: DeviceHarness[Car]) -> None:
    await h.ok("simulate.internet", {"online": False})


async def test_a_seat_asks_for_the_climate_and_only_its_zone_is_switched_on() -> None:
    async with car(state={"cabin_temp_c": 35}) as h:
        await offline(h)
        result = await h.ok("hear", {"zone": "rear_left", "text": "打开车内空调", "level_db": 62})
        assert result == {"zone": "rear_left", "handled": True, "outcome": "done"}
        assert (h.state.climate_on, h.state.climate_zones) == (True, ["rear_left"])
        (voice,) = h.events("voice")
        assert (voice["intent"], voice["slots"], voice["outcome"]) == (
            "car.climate",
            {"state": "on", "zone": "rear_left"},
            "done",
        )
        (spoke,) = h.events("spoke")
        assert (spoke["text"], spoke["zone"]) == ("好的，左后座空调已打开。", "rear_left")
        assert h.state.last_spoken == spoke["text"]
        assert h.events("utterance") == [], "offline: nothing is sent to the home"
        await h.clock.sleep(600)
        assert h.state.cabin_temp_c < 30, "the cabin cools"


async def test_named_zones_all_zones_set_points_and_off() -> None:
    async with car() as h:
        await offline(h)
        await h.ok("hear", {"zone": "driver", "text": "Turn on the climate for everyone", "level_db": 60})
        assert h.state.climate_zones == list(ZONES)
        assert h.events("spoke")[-1]["text"] == "OK, the climate is on for all seats."
        await h.ok("hear", {"zone": "driver", "text": "把副驾温度调到二十二度", "level_db": 60})
        assert h.state.zone_targets_c["front_passenger"] == 22
        assert h.state.zone_targets_c["driver"] == 24, "only the zone named"
        await h.ok("hear", {"zone": "rear_right", "text": "关闭全车空调", "level_db": 60})
        assert (h.state.climate_on, h.state.climate_zones) == (False, [])
        await h.ok("hear", {"zone": "rear_right", "text": "set the temperature to 40 degrees", "level_db": 60})
        await h.ok("hear", {"zone": "rear_right", "text": "set the cabin to 40 degrees", "level_db": 60})
        assert h.events("voice")[-1]["outcome"] == "failed"
        assert h.events("spoke")[-1]["text"] == "The car's climate takes 16 to 32 degrees."
        assert h.state.climate_on is False


async def test_the_ac_said_with_no_room_is_the_cabin_in_a_car() -> None:
    async with car() as h:
        await offline(h)
        await h.ok("hear", {"zone": "front_passenger", "text": "小爱同学，把空调调到二十度", "level_db": 60})
        assert h.state.climate_zones == ["front_passenger"]
        assert h.state.zone_targets_c["front_passenger"] == 20


async def test_offline_home_requests_get_no_connection_and_unknown_ones_not_understood() -> None:
    async with car() as h:
        await offline(h)
        before = h.state.model_copy()
        await h.ok("hear", {"zone": "driver", "text": "小爱同学，把客厅空调调到二十四度", "level_db": 60})
        await h.ok(
            "hear",
            {"zone": "driver", "text": "hey assistant, what's the temperature in the living room", "level_db": 60},
        )
        await h.ok("hear", {"zone": "driver", "text": "hey assistant, sing me a song", "level_db": 60})
        await h.ok("hear", {"zone": "driver", "text": "小爱同学，allume la radio", "level_db": 60})
        assert [(v["intent"], v["outcome"]) for v in h.events("voice")] == [
            ("climate.set_temperature", "no_connection"),
            ("climate.query", "no_connection"),
            (None, "not_understood"),
            (None, "not_understood"),
        ]
        assert [s["text"] for s in h.events("spoke")] == [
            "网络未连接，暂时无法控制家里的设备。",
            "No connection: I can't reach your home right now.",
            "Sorry, I didn't understand that.",
            "抱歉，我没听懂。",
        ]
        assert h.state.climate_on == before.climate_on


async def test_passengers_talking_without_the_wake_word_get_no_answer() -> None:
    async with car() as h:
        await offline(h)
        result = await h.ok("hear", {"zone": "rear_center", "text": "我们明天去哪儿玩", "level_db": 60})
        home_request = await h.ok("hear", {"zone": "rear_center", "text": "把客厅空调调到二十四度", "level_db": 60})
        assert result == home_request == {"zone": "rear_center", "handled": False, "outcome": None}
        assert h.events("voice") == h.events("spoke") == []


async def test_online_with_the_home_reachable_home_requests_go_to_the_orchestrator() -> None:
    async with car() as h:
        no_home = await h.ok("hear", {"zone": "driver", "text": "hey assistant, lock the door", "level_db": 60})
        assert no_home["outcome"] == "no_connection", "internet but no orchestrator online: the home is not reachable"
        assert h.events("utterance")[-1]["handled"] is True, "the car answered it itself"
        await h.publish(h.topics.availability(ORCHESTRATOR), ONLINE)
        result = await h.ok("hear", {"zone": "driver", "text": "hey assistant, lock the door", "level_db": 61})
        assert result == {"zone": "driver", "handled": False, "outcome": None}
        assert h.events("utterance")[-1] | {"ts": None} == {
            "ts": None, "zone": "driver", "text": "hey assistant, lock the door", "level_db": 61, "handled": False
        }  # fmt: skip
        assert len(h.events("spoke")) == 1, "the orchestrator answers this one, not the car"
        await h.ok("hear", {"zone": "rear_left", "text": "打开车内空调", "level_db": 60})
        assert h.events("utterance")[-1]["handled"] is True, "it acted, and says so for the arbitration"
        assert h.state.climate_zones == ["rear_left"]


async def test_say_in_a_zone_or_the_whole_cabin() -> None:
    async with car() as h:
        assert await h.ok("say", {"text": "Welcome back", "zone": "driver"}) == {"spoken": True, "zone": "driver"}
        await h.ok("say", {"text": "Arriving in 5 minutes"})
        assert [(e["text"], e["zone"]) for e in h.events("spoke")] == [
            ("Welcome back", "driver"),
            ("Arriving in 5 minutes", None),
        ]
        assert h.published("state")[-1].json()["last_spoken"] == "Arriving in 5 minutes"


async def test_climate_set_per_zone_power() -> None:
    async with car(state={"cabin_temp_c": 30, "outdoor_temp_c": 30}) as h:
        await h.ok("climate.set", {"power": True, "zone": "driver", "target_c": 20})
        await h.ok("climate.set", {"power": True, "zone": "rear_right", "target_c": 26})
        assert (h.state.climate_on, h.state.climate_zones) == (True, ["driver", "rear_right"])
        await h.clock.sleep(3600)
        assert h.state.cabin_temp_c == pytest.approx(23.0), "the cabin goes to the mean of the zones that are on"
        await h.ok("climate.set", {"power": False, "zone": "driver"})
        assert h.state.climate_zones == ["rear_right"]
        await h.ok("climate.set", {"power": False})
        assert (h.state.climate_on, h.state.climate_zones) == (False, [])


@pytest.mark.parametrize(
    ("command", "args"),
    [
        ("say", {"text": ""}),
        ("say", {"text": "hi", "zone": "boot"}),
        ("hear", {"zone": "driver", "text": "x" * 501}),
        ("climate.set", {"zone": "driver"}),
    ],
)
async def test_bad_voice_input_is_invalid_and_changes_nothing(command: str, args: dict[str, Any]) -> None:
    async with car() as h:
        before = h.state.model_copy(deep=True)
        reply = await h.command(command, args)
        assert reply.error is not None
        assert reply.error.code == "invalid_args"
        assert h.state == before
        assert h.events("spoke") == h.events("voice") == []


async def test_offline_car_voice_works_in_a_home_without_an_orchestrator(broker_kind: str) -> None:
    async with Home(load_home("demo"), broker=broker_kind, orchestrator=False) as home, home.controller() as ctl:
        await ctl.synced()
        await ctl.send("car", "simulate.internet", {"online": False})
        reply = await ctl.send("car", "hear", {"zone": "rear_left", "text": "打开车内空调", "level_db": 60})
        assert reply == {"zone": "rear_left", "handled": True, "outcome": "done"}
        no_home = await ctl.send(
            "car", "hear", {"zone": "driver", "text": "hey assistant, lock the door", "level_db": 60}
        )
        assert no_home["outcome"] == "no_connection"
        await home.clock.sleep(60)
        state = ctl.registry.devices["car"].state or {}
        assert state["climate_zones"] == ["rear_left"]
        assert state["last_spoken"] == "No connection: I can't reach your home right now."

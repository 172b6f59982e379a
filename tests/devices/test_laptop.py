"""The laptop is the tablet's calling device with another kind and a 1080p webcam (calling.py is tested
through the tablet); this checks only what differs, and that nothing else does."""

from __future__ import annotations

from hyperhome.devices.laptop import Laptop
from hyperhome.devices.tablet import Tablet
from hyperhome.devices.testing import DeviceHarness


async def test_a_laptop_calls_on_its_1080p_webcam() -> None:
    async with DeviceHarness(Laptop, device_id="work-laptop") as h:
        meta = h.published("$meta")[-1].json()
        assert (meta["kind"], meta["streams"]) == ("laptop", ["front"])
        await h.ok("call.start", {"with": "team"})
        await h.clock.sleep(1)
        frames = [m.json() for m in h.published("stream/front")]
        assert {(f["source"], f["width"], f["height"]) for f in frames} == {("work-laptop", 1920, 1080)}
        (changed,) = h.events("video_source_changed")
        assert (changed["device"], changed["stream"]) == ("work-laptop", "front")


def test_the_laptop_shares_everything_else_with_the_tablet() -> None:
    assert Laptop.commands.keys() == Tablet.commands.keys()
    assert Laptop.events == Tablet.events
    assert Laptop.State.model_json_schema()["properties"] == Tablet.State.model_json_schema()["properties"]

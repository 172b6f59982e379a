"""Phone: the user's hand in the system. Battery, where it is, and taps that ask for things."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from hyperhome.devices.base import Args, Device, DeviceState, command
from hyperhome.devices.physics import battery

IDLE_DRAIN_PCT_PER_H = -1.0
CHARGE_PCT_PER_H = 60.0


class PhoneState(DeviceState):
    battery_pct: float = Field(80.0, ge=0, le=100)
    charging: bool = False
    location: str = Field("home", min_length=1, max_length=64)
    """A named place (home, office, road, ...) or "lat,lon"."""


class TapArgs(Args):
    intent: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    args: dict[str, Any] = Field(default_factory=dict)


class MoveArgs(Args):
    location: str = Field(min_length=1, max_length=64)


class ChargeArgs(Args):
    on: bool


class Phone(Device):
    kind = "phone"
    State = PhoneState
    capabilities = ("intents", "location", "battery")
    events: ClassVar[dict[str, str]] = {
        "intent": "the user asked for something: intent, args, user",
        "moved": "the phone changed place: from, to",
    }
    refresh_s = 300.0

    state: PhoneState

    def _rate(self) -> float:
        return CHARGE_PCT_PER_H if self.state.charging else IDLE_DRAIN_PCT_PER_H

    def advance(self, now: float, elapsed_s: float) -> None:
        self.state.battery_pct = round(battery.level_after(self.state.battery_pct, self._rate(), elapsed_s), 3)

    @command("tap", TapArgs)
    async def tap(self, args: TapArgs) -> dict[str, Any]:
        """The user taps a shortcut: publishes ``event/intent`` for the orchestrator to act on."""
        await self.emit("intent", intent=args.intent, args=args.args, user=self.spec.owner)
        return {"intent": args.intent}

    @command("move", MoveArgs)
    async def move(self, args: MoveArgs) -> dict[str, Any]:
        """Test stimulus: the phone (and its user) is now at ``location``."""
        before = self.state.location
        self.state.location = args.location
        if before != args.location:
            await self.emit("moved", **{"from": before, "to": args.location})
        return {"location": args.location}

    @command("charge", ChargeArgs)
    async def charge(self, args: ChargeArgs) -> dict[str, Any]:
        """Test stimulus: plug the charger in or out."""
        self.state.charging = args.on
        return {"charging": args.on}

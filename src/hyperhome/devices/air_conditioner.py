"""Air conditioner: an inverter split unit cooling or heating one room (physics in physics/thermal.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import ConfigDict, Field, model_validator

from hyperhome.devices.base import (
    Args,
    Device,
    DeviceConfig,
    DeviceSpec,
    DeviceState,
    Omittable,
    Timestamp,
    command,
)
from hyperhome.devices.miot import MiotDevice, MiotService
from hyperhome.devices.physics import thermal
from hyperhome.errors import CommandError, ErrorCode

if TYPE_CHECKING:
    from hyperhome.broker.topics import Topics
    from hyperhome.devices.clock import Clock, TimerHandle

Mode = Literal["cool", "heat", "dry", "fan", "auto"]
Fan = Literal["auto", "low", "medium", "high"]
TargetC = float


class AcState(DeviceState):
    power: bool = False
    """The unit is switched on."""
    mode: Mode = "cool"
    """cool and heat push to the target; auto picks one; dry cools at 40 % capacity; fan moves air only."""
    target_c: float = Field(26.0, ge=16, le=30, json_schema_extra={"step": 0.5})
    """The set point (the remote steps it by 0.5 °C, ``step``; any value in range is accepted)."""
    fan: Fan = "auto"
    """Indoor fan speed; scales capacity (low 60 %, medium 80 %, high and auto 100 %)."""
    room_temp_c: float = Field(30.0, ge=-30, le=60)
    """The room's temperature, from the thermal model, as its sensor reports it (0.1 °C steps)."""
    outdoor_temp_c: float = Field(35.0, ge=-40, le=60)
    """Outdoor temperature (change it with simulate.outdoor)."""
    energy_kwh: float = Field(0.0, ge=0)
    """Electricity used since the device started (compressor over COP, plus the fan)."""
    minutes_to_target: float | None = None
    """The model's estimate of minutes until the room reaches the target with the current settings
    (0 when there, null when off or out of reach)."""


class AcConfig(DeviceConfig):
    ua_w_per_k: float = Field(60.0, gt=0)
    """Heat the room exchanges with the outdoors per kelvin of difference (walls, windows, air leaks)."""
    capacitance_j_per_k: float = Field(1.6e6, gt=0)
    """Heat that warms the room by one kelvin (its air, furniture and walls' inner layer)."""
    cooling_capacity_w: float = Field(3500.0, gt=0)
    """Heat the unit removes at full compressor in cool mode (rated capacity)."""
    heating_capacity_w: float = Field(4000.0, gt=0)
    """Heat the unit adds at full compressor in heat mode."""
    cop_cooling: float = Field(3.5, gt=0)
    """Coefficient of performance cooling: heat moved per unit of electricity."""
    cop_heating: float = Field(3.6, gt=0)
    """Coefficient of performance heating."""
    fan_power_w: float = Field(35.0, ge=0)
    """Electricity the indoor fan draws while the unit is on."""


class SetArgs(Args):
    """Any subset of the writable settings; at least one."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    power: Omittable[bool] = None
    mode: Omittable[Mode] = None
    target_c: Omittable[float] = Field(None, ge=16, le=30)
    fan: Omittable[Fan] = None

    @model_validator(mode="after")
    def _something(self) -> SetArgs:
        if not self.model_fields_set:
            msg = "give at least one of power, mode, target_c, fan"
            raise ValueError(msg)
        return self


class PowerArgs(Args):
    on: bool


class EstimateArgs(Args):
    target_c: float = Field(ge=16, le=30)
    mode: Literal["cool", "heat", "auto"] = "auto"
    fan: Fan = "auto"
    at: Timestamp | None = None
    """Start the unit at this (future) time instead of now; until then the room follows the
    current settings (drifting towards the outdoors when the unit is off)."""


class OutdoorArgs(Args):
    outdoor_temp_c: float = Field(ge=-40, le=60)


class AirConditioner(Device):
    kind = "air_conditioner"
    summary = ("power", "mode", "target_c", "room_temp_c")
    State = AcState
    Config = AcConfig
    capabilities = ("climate",)
    miot = MiotDevice(
        type="air-conditioner",
        code="0000A004",
        services=(
            MiotService(
                "air-conditioner",
                properties={"power": "on", "mode": "mode", "target_c": "target-temperature"},
                actions={"power": "power"},
                events={"target_reached": "target-reached"},
            ),
            MiotService("fan-control", properties={"fan": "fan-level"}),
            MiotService(
                "environment", properties={"room_temp_c": "temperature", "outdoor_temp_c": "outdoor-temperature"}
            ),
            MiotService("electricity", properties={"energy_kwh": "power-consumption"}),
        ),
    )
    events: ClassVar[dict[str, str]] = {
        "target_reached": "the room reached the target temperature: target_c, room_temp_c, minutes",
    }
    refresh_s = 60.0

    state: AcState
    config: AcConfig
    shadow = ("_room_c", "_pushing_since")

    def __init__(self, spec: DeviceSpec, *, home: str, clock: Clock, topics: Topics | None = None) -> None:
        super().__init__(spec, home=home, clock=clock, topics=topics)
        self.model = thermal.RoomModel(**self.config.model_dump())
        self._room_c = self.state.room_temp_c
        self._reached_timer: TimerHandle | None = None
        self._pushing_since: float | None = None

    # -- physics -----------------------------------------------------------------------------
    def _hvac(self) -> thermal.Hvac:
        s = self.state
        return thermal.hvac_for(s.power, s.mode, s.fan, s.target_c, self._room_c, self.model, s.outdoor_temp_c)

    def advance(self, now: float, elapsed_s: float) -> None:
        result = thermal.step(self._room_c, self.state.outdoor_temp_c, self._hvac(), self.model, elapsed_s)
        self._room_c = result.room_c
        self.state.room_temp_c = round(result.room_c, 1)
        self.state.energy_kwh = round(self.state.energy_kwh + result.energy_kwh, 4)
        self._update_estimate()

    def _update_estimate(self) -> None:
        eta = thermal.time_to_target_s(self._room_c, self.state.outdoor_temp_c, self._hvac(), self.model)
        self.state.minutes_to_target = None if eta is None else round(eta / 60.0, 1)

    def _plan_target_reached(self) -> None:
        """(Re)schedule the ``target_reached`` event at the exact moment the model predicts."""
        if self._reached_timer is not None:
            self._reached_timer.cancel()
            self._reached_timer = None
        eta = thermal.time_to_target_s(self._room_c, self.state.outdoor_temp_c, self._hvac(), self.model)
        if eta is None or eta <= 0:
            self._pushing_since = None
            return
        if self._pushing_since is None:
            self._pushing_since = self.clock.now()
        self._reached_timer = self.at(self.clock.now() + eta, self._on_target_reached)

    async def _on_target_reached(self) -> None:
        self._reached_timer = None
        await self.publish_state()
        started = self._pushing_since if self._pushing_since is not None else self.clock.now()
        self._pushing_since = None
        await self.emit(
            "target_reached",
            target_c=self.state.target_c,
            room_temp_c=self.state.room_temp_c,
            minutes=round((self.clock.now() - started) / 60.0, 1),
        )

    async def on_start(self) -> None:
        self._update_estimate()
        self._plan_target_reached()

    def replan(self) -> None:
        self._plan_target_reached()

    # -- commands ------------------------------------------------------------------------------
    @command("set", SetArgs)
    async def set(self, args: SetArgs) -> dict[str, Any]:
        """Change any of power, mode, target_c and fan; the rest stay as they are."""
        for name in args.model_fields_set:
            setattr(self.state, name, getattr(args, name))
        self._after_change()
        return {"minutes_to_target": self.state.minutes_to_target}

    @command("power", PowerArgs)
    async def power(self, args: PowerArgs) -> dict[str, Any]:
        """Switch the unit on or off, keeping its other settings."""
        self.state.power = args.on
        self._after_change()
        return {"power": self.state.power}

    @command("estimate", EstimateArgs)
    async def estimate(self, args: EstimateArgs) -> dict[str, Any]:
        """The model's minutes to reach ``target_c`` if started now or ``at`` a later time (changes nothing)."""
        outdoor = self.state.outdoor_temp_c
        room = self._room_c
        if args.at is not None:
            wait_s = args.at.timestamp() - self.clock.now()
            if wait_s < 0:
                msg = "`at` is in the past"
                raise CommandError(ErrorCode.REJECTED, msg)
            room = thermal.step(room, outdoor, self._hvac(), self.model, wait_s).room_c
        hvac = thermal.hvac_for(True, args.mode, args.fan, args.target_c, room, self.model, outdoor)
        eta = thermal.time_to_target_s(room, outdoor, hvac, self.model)
        return {"minutes": None if eta is None else round(eta / 60.0, 2), "room_temp_c": round(room, 1)}

    @command("simulate.outdoor", OutdoorArgs)
    async def simulate_outdoor(self, args: OutdoorArgs) -> dict[str, Any]:
        """Test stimulus: the outdoor temperature changes."""
        self.state.outdoor_temp_c = args.outdoor_temp_c
        self._after_change()
        return {}

    def _after_change(self) -> None:
        self._update_estimate()
        self._plan_target_reached()

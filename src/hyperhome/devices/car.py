"""Car: a Xiaomi SU7-like electric saloon. Trips with a live ETA, battery and range, cabin
climate, cameras, a cabin display and five seat microphones.

Trips (physics in physics/driving.py): ``drive.start`` puts the car in drive at a profile's
average speed; position, speed and ETA follow in closed form and are published every simulated
minute; ``arrived`` fires at the exact ETA, re-planned whenever traffic or a reroute changes it
(``eta_changed`` when the ETA moves by a minute or more from the last one announced). Arrival
parks the car. The gear is ``drive`` exactly while a trip is under way.

Energy. Defaults are the SU7 "standard" (rear-wheel drive, BYD LFP pack):

- ``pack_kwh = 73.6`` and a CLTC range of 700 km (Xiaomi launch figures, March 2024, as
  reported by Lei Jun and the press: e.g. codelist.biz and my-electricvehicle.com, 2024-03-28).
  CLTC (GB/T 38146.1-2019) is a slow, urban cycle (29 km/h average), so its range is the most
  generous of the test cycles: Lei Jun himself put the same car at about 625 km on WLTP, and
  real-world drives come lower still.
- ``consumption_kwh_per_100km = 15.0``, battery side, mixed real-world driving. The CLTC figure
  implies only 73.6 / 700 = 10.5 kWh/100 km and the WLTP estimate 11.8. Real drives:
  Lei Jun's highway figure for the standard car, 495 km on the 73.6 kWh pack (14.9 kWh/100 km);
  Xiaomi's claim of at least 80 % of CLTC range in 35 °C summer heat (13.1 kWh/100 km with the
  air conditioner on); the SU7 Max, 504.2 km from 101 kWh at a 120 km/h average in media tests
  (20.0 kWh/100 km; Kuai Keji, 2024-08-03); Dongchedi's range test of the Max, 643 of 800 km
  CLTC (79 %). 15 kWh/100 km sits with the highway figure, above the city ones, at the lower
  end of the 15-16 kWh/100 km real-world range named in HyperHome issue 3 (unsourced there).
- ``range_km`` is the energy left divided by that consumption (no climate load in it, as car
  range estimates at rest show); the climate's draw lowers the battery and so the range.
- ``top_speed_kmh = 210``: the standard SU7's announced top speed (carlist.com, 2023).

Cabin climate: the cabin is one thermal mass with an inverter heat pump, the same closed-form
model as a room (physics/thermal.py) with a car's constants; an order-of-magnitude sketch, not
measurements of an SU7:

- ``cabin_ua_w_per_k = 65``: about 4.5 m2 of glazing (windscreen, side and rear windows, glass
  roof) at U = 5.5 W/(m2 K) (single laminated glass with wind outside; single glazing is about
  5.9 in the ASHRAE Handbook - Fundamentals, ch. 15) = 25 W/K; about 8 m2 of trimmed body at
  2 W/(m2 K) = 16 W/K; 20 l/s of fresh air (10 l/s a person for two, the rate EN 16798-1 and
  ASHRAE 62.1 use) = 0.02 * 1.2 * 1005 = 24 W/K.
- ``cabin_capacitance_j_per_k = 8.0e4``: 3 m3 of air (3.6 kJ/K) plus the interior that follows
  within minutes, about 50 kg of seats, dashboard and trim at about 1.5 kJ/(kg K).
- ``cooling_capacity_w = heating_capacity_w = 5000``: a passenger-car air conditioner is sized
  at about 4-6 kW of cooling. ``cop_cooling = 2.5``, ``cop_heating = 2.0``: automotive heat pumps
  at 35 °C and near 0 °C outside run at about 2-3. ``blower_power_w = 150``: the cabin fan at
  medium speed.

Cross-check: holding 24 °C against 35 °C outside takes 65 * 11 / 2.5 + 150 = 0.44 kW; Xiaomi's
80 % summer range claim on CLTC implies 2.6 kWh/100 km extra at 29 km/h, 0.76 kW, which also
pays for the sun the model leaves out. Holding 22 °C at -7 °C: 65 * 29 / 2.0 + 150 = 1.1 kW.
With these, a cabin at 35 °C on a 35 °C day cools to 24 °C in about 3 minutes.
Per-zone set points (five seat zones) are kept for the seats; the one-mass model drives the
cabin to their mean.

Per-zone climate: ``climate_zones`` lists the seat zones whose climate is on (``climate.set``
with ``power`` and ``zone`` switches one; without ``zone``, all five); ``climate_on`` is true
while any is. The one-mass cabin is driven to the mean set point of the zones that are on.

Cameras ``front``, ``rear`` and ``cabin`` are media sources (nominal frame sizes: 1920x1080
outside, 1280x720 cabin). When the car is parked and locked every stream ends and new viewers
are refused. The display keeps its message and the last ``DISPLAY_HISTORY`` (5, a UI choice).
``internet`` is the car's cellular link (``simulate.internet``).

Voice: ``hear`` is the test stimulus of someone speaking in a seat zone; speech levels run from
54 dB(A) relaxed to 78 shouted at 1 m, 60 normal (ISO 9921:2003). The on-board assistant
(car_assistant.py, docs/voice.md) handles the car's own functions itself, online or not, and
answers with ``say`` in that zone (``voice`` and ``spoke`` events). While the car has internet
it publishes every utterance (``handled`` tells whether it already answered) so the orchestrator
can arbitrate and answer the rest. Requests for the home need the home reachable (internet, and
the orchestrator's ``$availability`` online); otherwise the car answers "no connection" itself.
Without internet it publishes no utterance at all.
"""

from __future__ import annotations

from statistics import fmean
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hyperhome.broker.topics import ORCHESTRATOR
from hyperhome.broker.wire import ONLINE
from hyperhome.devices import car_assistant
from hyperhome.devices.base import (
    Args,
    DeviceConfig,
    DeviceSpec,
    DeviceState,
    NoArgs,
    Omittable,
    command,
    requires_one_of,
)
from hyperhome.devices.clock import iso
from hyperhome.devices.media import MediaSource
from hyperhome.devices.physics import driving, thermal
from hyperhome.errors import CommandError, ConfigError, ErrorCode
from hyperhome.voice import Grammar

if TYPE_CHECKING:
    from hyperhome.broker.client import Message
    from hyperhome.broker.topics import Topics
    from hyperhome.devices.clock import Clock, TimerHandle

Zone = Literal["driver", "front_passenger", "rear_left", "rear_center", "rear_right"]
ZONES: tuple[Zone, ...] = ("driver", "front_passenger", "rear_left", "rear_center", "rear_right")
Profile = Literal["city", "mixed", "highway"]
ProfileName = Literal["city", "mixed", "highway", "custom"]
Level = Literal["info", "warning", "alert"]
SetPointC = Annotated[float, Field(ge=16, le=32)]
DISPLAY_HISTORY = 5
ETA_CHANGE_S = 60.0


class DisplayMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str
    level: Level
    ts: str


class CarState(DeviceState):
    gear: Literal["park", "drive"] = "park"
    """drive exactly while a trip is under way; park otherwise (derived)."""
    locked: bool = False
    """The car's doors are locked (parked and locked: cameras off)."""
    location: str = Field("home", min_length=1, max_length=64)
    """Where the car is: a named place, the last destination reached, or road."""
    destination: str | None = None
    """Destination of the trip under way."""
    profile: ProfileName | None = None
    """Speed profile of the trip under way (custom when a speed was given)."""
    speed_kmh: float = Field(0.0, ge=0)
    """Current speed: the trip's average speed times the traffic factor; 0 when parked."""
    traffic_factor: float | None = None
    """Speed relative to free flow on the trip under way (simulate.traffic)."""
    trip_km: float | None = None
    """Length of the current route, driven plus remaining."""
    driven_km: float | None = None
    """Distance driven on this trip (to the metre)."""
    remaining_km: float | None = None
    """Distance still to go on this trip."""
    eta: str | None = None
    """Expected arrival time (ISO 8601, UTC)."""
    minutes_to_arrival: float | None = None
    """Minutes until the ETA."""
    odometer_km: float = Field(0.0, ge=0)
    """Distance driven since the device started."""
    battery_kwh: float = Field(58.88, ge=0)
    """Energy in the battery (default 80 % of the 73.6 kWh pack)."""
    battery_pct: float = Field(80.0, ge=0, le=100)
    """Battery level (derived from battery_kwh and the pack size)."""
    range_km: float = Field(392.5, ge=0)
    """Distance the battery lasts at the real-world consumption (derived)."""
    climate_on: bool = False
    """Cabin climate (heat pump) running, in at least one zone."""
    climate_zones: list[Zone] = Field(default_factory=list)
    """Seat zones whose climate is on (all five when climate_on is set without them)."""
    zone_targets_c: dict[Zone, SetPointC] = Field(default_factory=lambda: dict.fromkeys(ZONES, 24.0))
    """Set point of each seat zone; the cabin is driven to their mean."""
    cabin_temp_c: float = Field(35.0, ge=-40, le=80)
    """Cabin air temperature from the one-mass cabin model (0.01 °C)."""
    outdoor_temp_c: float = Field(35.0, ge=-40, le=60)
    """Outside temperature (simulate.outdoor)."""
    climate_kwh: float = Field(0.0, ge=0)
    """Battery energy the cabin climate has used since the device started."""
    display: DisplayMessage | None = None
    """The message on the cabin display."""
    display_history: list[DisplayMessage] = Field(default_factory=list)
    """The last messages shown, oldest first (at most 5, the current one included)."""
    internet: bool = True
    """The car's cellular link is up."""
    streaming: list[str] = Field(default_factory=list)
    """Cameras with at least one viewer."""
    last_spoken: str | None = None
    """The last text the car said (on-board assistant or say)."""


class CarConfig(DeviceConfig):
    pack_kwh: float = Field(73.6, gt=0)
    """Usable battery capacity."""
    consumption_kwh_per_100km: float = Field(15.0, gt=0)
    """Energy driving takes, on average, per 100 km (the range follows from it)."""
    top_speed_kmh: float = Field(210.0, gt=0)
    """The fastest the car drives."""
    cabin_ua_w_per_k: float = Field(65.0, gt=0)
    """Heat the cabin exchanges with the outside per kelvin of difference."""
    cabin_capacitance_j_per_k: float = Field(8.0e4, gt=0)
    """Heat that warms the cabin by one kelvin."""
    cooling_capacity_w: float = Field(5000.0, gt=0)
    """Heat the climate control removes at full power."""
    heating_capacity_w: float = Field(5000.0, gt=0)
    """Heat the climate control adds at full power."""
    cop_cooling: float = Field(2.5, gt=0)
    """Coefficient of performance cooling: heat moved per unit of electricity."""
    cop_heating: float = Field(2.0, gt=0)
    """Coefficient of performance heating."""
    blower_power_w: float = Field(150.0, ge=0)
    """Electricity the blower draws while the climate control runs."""


class DriveStartArgs(Args):
    destination: str = Field(min_length=1, max_length=64)
    """A named place (home, office, ...)."""
    distance_km: float = Field(gt=0, le=2000)
    """Length of the route."""
    profile: Profile = "mixed"
    """Average speed: city 30, mixed 45, highway 90 km/h."""
    speed_kmh: float | None = Field(None, gt=0, le=210)
    """Average speed instead of a profile's."""


class RerouteArgs(Args):
    distance_km: float = Field(gt=0, le=2000)
    """Length of the new route from where the car is now."""
    destination: str | None = Field(None, min_length=1, max_length=64)
    """A new destination (default: the same)."""


class TrafficArgs(Args):
    factor: float = Field(gt=0, le=2)
    """Speed relative to free flow: 0.5 halves it (the rest takes twice as long), 1 is free flow."""


class ClimateSetArgs(Args):
    """At least one of power and target_c; with zone, they apply to that seat zone only."""

    model_config = ConfigDict(json_schema_extra=requires_one_of("power", "target_c"))

    power: Omittable[bool] = None
    """Switch the climate on or off: in every zone, or in zone only."""
    target_c: Omittable[float] = Field(None, ge=16, le=32)
    """Set point, °C: of every zone, or of zone only."""
    zone: Zone | None = None
    """The seat zone to set (default: all five)."""

    @model_validator(mode="after")
    def _something(self) -> ClimateSetArgs:
        if self.power is None and self.target_c is None:
            msg = "give power and/or target_c"
            raise ValueError(msg)
        return self


class DisplayArgs(Args):
    text: str = Field(min_length=1, max_length=200)
    """The message."""
    level: Level = "info"
    """How it is shown: info, warning or alert."""


class HearArgs(Args):
    zone: Zone
    """The seat zone whose microphone hears it."""
    text: str = Field(min_length=1, max_length=500)
    """What was said (already transcribed)."""
    level_db: float = Field(60.0, ge=0, le=130)
    """Speech level at the microphone, dB(A): about 60 normal, 78 shouted."""


class CarSayArgs(Args):
    text: str = Field(min_length=1, max_length=500)
    """What to say."""
    zone: Zone | None = None
    """The seat zone to say it in (default: the whole cabin)."""


class OnlineArgs(Args):
    online: bool
    """The cellular link is up."""


class OutdoorArgs(Args):
    outdoor_temp_c: float = Field(ge=-40, le=60)
    """The new outside temperature."""


class Car(MediaSource):
    kind = "car"
    summary = ("gear", "location", "battery_pct", "range_km")
    State = CarState
    Config = CarConfig
    capabilities = ("driving", "location", "battery", "climate", "cameras", "display", "microphones")
    streams = ("front", "rear", "cabin")
    resolutions: ClassVar[dict[str, tuple[int, int]]] = {
        "front": (1920, 1080),
        "rear": (1920, 1080),
        "cabin": (1280, 720),
    }
    events: ClassVar[dict[str, str]] = {
        "departed": "a trip began: destination, distance_km, profile, speed_kmh, eta",
        "eta_changed": "the ETA moved by a minute or more: eta, previous, reason (traffic, reroute)",
        "arrived": "the car reached its destination and parked: destination, distance_km, minutes",
        "trip_cancelled": "the trip ended before arrival: destination, driven_km, remaining_km, reason",
        "displayed": "the cabin display shows a message: text, level",
        "utterance": "a seat microphone heard speech (with internet only): zone, text, level_db, handled",
        "voice": "the on-board assistant answered: zone, text, lang, intent, slots, outcome, reply",
        "spoke": "the car said something: text, zone (null: the whole cabin)",
    }
    refresh_s = 60.0

    state: CarState
    config: CarConfig
    shadow = (
        "_battery_kwh", "_cabin_c", "_climate_kwh", "_odometer_km", "_trip", "_profile", "_base_speed_kmh",
        "_announced_eta",
    )  # fmt: skip

    def __init__(self, spec: DeviceSpec, *, home: str, clock: Clock, topics: Topics | None = None) -> None:
        super().__init__(spec, home=home, clock=clock, topics=topics)
        if self.state.battery_kwh > self.config.pack_kwh:
            pack = self.config.pack_kwh
            msg = f"device {spec.id!r} (car): battery_kwh {self.state.battery_kwh} exceeds the {pack} kWh pack"
            raise ConfigError(msg)
        c = self.config
        self.cabin = thermal.RoomModel(
            c.cabin_ua_w_per_k, c.cabin_capacitance_j_per_k, c.cooling_capacity_w, c.heating_capacity_w,
            c.cop_cooling, c.cop_heating, c.blower_power_w,
        )  # fmt: skip
        self._battery_kwh = self.state.battery_kwh
        self._cabin_c = self.state.cabin_temp_c
        self._climate_kwh = self.state.climate_kwh
        self._odometer_km = self.state.odometer_km
        self._trip: driving.Trip | None = None
        self._profile: ProfileName | None = None
        self._base_speed_kmh = 0.0
        self._announced_eta: float | None = None
        self._arrival: TimerHandle | None = None
        if self.state.climate_on and not self.state.climate_zones:
            self.state.climate_zones = list(ZONES)
        self.state.climate_on = bool(self.state.climate_zones)
        self.grammar = Grammar.default()
        self._orchestrator_online = False
        self._refresh_state()  # no trip yet, so the clock (maybe not running yet) is not asked

    # -- physics -----------------------------------------------------------------------------
    def _hvac(self) -> thermal.Hvac:
        s = self.state
        zones = s.climate_zones or ZONES
        target = fmean(s.zone_targets_c[z] for z in zones)
        if abs(self._cabin_c - target) < 1e-9:
            mode = "cool" if s.outdoor_temp_c > target else "heat"
        else:
            mode = "cool" if self._cabin_c > target else "heat"
        return thermal.hvac_for(s.climate_on, mode, "auto", target, self._cabin_c, self.cabin)

    def advance(self, now: float, elapsed_s: float) -> None:
        trip = self._trip
        if trip is not None:
            km = trip.driven_km(now) - trip.driven_km(now - elapsed_s)
            self._odometer_km += km
            self._battery_kwh -= driving.energy_kwh(km, self.config.consumption_kwh_per_100km)
        climate = thermal.step(self._cabin_c, self.state.outdoor_temp_c, self._hvac(), self.cabin, elapsed_s)
        self._cabin_c = climate.room_c
        self._climate_kwh += climate.energy_kwh
        self._battery_kwh = max(0.0, self._battery_kwh - climate.energy_kwh)
        if trip is not None and trip.arrived(now):
            self._end_trip(location=trip.destination)
            self.spawn(self._report_arrival(trip))
        self._refresh_state(now)

    def _refresh_state(self, now: float | None = None) -> None:
        """Write every derived field from the exact internal values (at ``now``, default the clock's)."""
        s, trip = self.state, self._trip
        s.gear = "park" if trip is None else "drive"
        s.odometer_km = round(self._odometer_km, 3)
        s.battery_kwh = round(self._battery_kwh, 3)
        s.battery_pct = round(100.0 * self._battery_kwh / self.config.pack_kwh, 1)
        s.range_km = round(driving.range_km(self._battery_kwh, self.config.consumption_kwh_per_100km), 1)
        s.cabin_temp_c = round(self._cabin_c, 2)
        s.climate_kwh = round(self._climate_kwh, 4)
        s.destination = s.profile = s.traffic_factor = s.trip_km = s.driven_km = s.remaining_km = None
        s.eta = s.minutes_to_arrival = None
        s.speed_kmh = 0.0
        if trip is None:
            return
        now = self.clock.now() if now is None else now
        s.destination, s.trip_km = trip.destination, round(trip.distance_km, 3)
        s.profile = self._profile
        s.speed_kmh = round(trip.speed_kmh(now), 2)
        s.traffic_factor = round(trip.speed_kmh(now) / self._base_speed_kmh, 3)
        s.driven_km, s.remaining_km = round(trip.driven_km(now), 3), round(trip.remaining_km(now), 3)
        s.eta = iso(trip.eta_s())
        s.minutes_to_arrival = round(max(0.0, trip.eta_s() - now) / 60.0, 1)

    # -- trips ---------------------------------------------------------------------------------
    def replan(self) -> None:
        self._plan_arrival()

    def _plan_arrival(self) -> None:
        if self._arrival is not None:
            self._arrival.cancel()
            self._arrival = None
        if self._trip is not None:
            self._arrival = self.at(self._trip.eta_s(), self._on_eta)

    async def _on_eta(self) -> None:
        """At the ETA: advancing to now ends the trip (whichever advance sees it first reports it)."""
        self._arrival = None
        await self.publish_state_if_changed()

    async def _report_arrival(self, trip: driving.Trip) -> None:
        await self.publish_state_if_changed()
        minutes = round((trip.eta_s() - trip.departed_s) / 60.0, 1)
        await self.emit("arrived", destination=trip.destination, distance_km=trip.distance_km, minutes=minutes)

    def _end_trip(self, *, location: str) -> None:
        self._trip = None
        self._profile = None
        self._plan_arrival()
        self.state.location = location
        self._secure_cameras()

    def _require_trip(self) -> driving.Trip:
        if self._trip is None:
            msg = "no trip under way"
            raise CommandError(ErrorCode.REJECTED, msg)
        return self._trip

    def _check_range(self, km: float) -> None:
        if km > self.state.range_km:
            msg = f"not enough charge: {km:g} km to go, range {self.state.range_km:g} km"
            raise CommandError(ErrorCode.REJECTED, msg)

    async def _replanned(self, trip: driving.Trip, reason: str) -> dict[str, Any]:
        now = self.clock.now()
        self._trip = trip
        self._plan_arrival()
        self._refresh_state(now)
        eta = trip.eta_s()
        previous = self._announced_eta
        if previous is not None and abs(eta - previous) >= ETA_CHANGE_S:
            self._announced_eta = eta
            await self.emit("eta_changed", eta=iso(eta), previous=iso(previous), reason=reason)
        return {"eta": iso(eta), "remaining_km": self.state.remaining_km}

    @command("drive.start", DriveStartArgs)
    async def drive_start(self, args: DriveStartArgs) -> dict[str, Any]:
        """Start a trip: gear drive at the profile's (or the given) average speed; ETA in the reply."""
        if self._trip is not None:
            msg = f"already driving to {self._trip.destination}: cancel or reroute instead"
            raise CommandError(ErrorCode.REJECTED, msg)
        self._check_range(args.distance_km)
        now = self.clock.now()
        speed = min(args.speed_kmh or driving.PROFILE_SPEEDS_KMH[args.profile], self.config.top_speed_kmh)
        self._trip = driving.Trip.begin(args.destination, args.distance_km, speed, now)
        self._profile = "custom" if args.speed_kmh else args.profile
        self._base_speed_kmh = speed
        self._announced_eta = self._trip.eta_s()
        self.state.location = "road"
        self._plan_arrival()
        self._refresh_state(now)
        eta = iso(self._trip.eta_s())
        await self.emit(
            "departed", destination=args.destination, distance_km=args.distance_km, profile=self._profile,
            speed_kmh=speed, eta=eta,
        )  # fmt: skip
        return {"eta": eta, "speed_kmh": speed}

    @command("drive.reroute", RerouteArgs)
    async def drive_reroute(self, args: RerouteArgs) -> dict[str, Any]:
        """Take a new route from here: distance_km still to go (and optionally a new destination)."""
        trip = self._require_trip()
        self._check_range(args.distance_km)
        return await self._replanned(trip.rerouted(self.clock.now(), args.distance_km, args.destination), "reroute")

    @command("simulate.traffic", TrafficArgs)
    async def simulate_traffic(self, args: TrafficArgs) -> dict[str, Any]:
        """Test stimulus: traffic changes the speed to factor x free flow for the rest of the trip."""
        trip = self._require_trip()
        speed = min(self._base_speed_kmh * args.factor, self.config.top_speed_kmh)
        return await self._replanned(trip.at_speed(self.clock.now(), speed), "traffic")

    @command("drive.cancel", NoArgs)
    async def drive_cancel(self, args: NoArgs) -> dict[str, Any]:
        """Stop the trip where the car is and park; no arrival follows."""
        return await self._cancel("cancelled")

    @command("park", NoArgs)
    async def park(self, args: NoArgs) -> dict[str, Any]:
        """Shift to park; during a trip this ends it where the car is (trip_cancelled)."""
        if self._trip is None:
            return {"gear": "park"}
        return await self._cancel("parked")

    async def _cancel(self, reason: str) -> dict[str, Any]:
        trip, now = self._require_trip(), self.clock.now()
        self._end_trip(location="road")
        self._refresh_state(now)
        driven, remaining = round(trip.driven_km(now), 3), round(trip.remaining_km(now), 3)
        await self.emit(
            "trip_cancelled", destination=trip.destination, driven_km=driven, remaining_km=remaining, reason=reason
        )
        return {"gear": "park", "driven_km": driven}

    # -- locks and cameras -----------------------------------------------------------------------
    @command("lock", NoArgs)
    async def lock(self, args: NoArgs) -> dict[str, Any]:
        """Lock the car; parked and locked, every camera stream ends."""
        self.state.locked = True
        ended = self._secure_cameras()
        return {"locked": True, "streams_ended": len(ended)}

    @command("unlock", NoArgs)
    async def unlock(self, args: NoArgs) -> dict[str, Any]:
        """Unlock the car."""
        self.state.locked = False
        return {"locked": False}

    def _secure_cameras(self) -> list[Any]:
        return self.end_leases() if self.state.locked and self._trip is None else []

    def check_stream(self, stream: str, viewer: str) -> None:
        if self.state.locked and self._trip is None:
            msg = "the car is parked and locked: its cameras are off"
            raise CommandError(ErrorCode.REJECTED, msg)

    def on_leases_changed(self) -> None:
        self.state.streaming = sorted({lease.stream for lease in self.active_leases()})
        self.spawn(self.publish_state_if_changed())

    # -- cabin ---------------------------------------------------------------------------------
    @command("climate.set", ClimateSetArgs)
    async def climate_set(self, args: ClimateSetArgs) -> dict[str, Any]:
        """Switch the climate and/or set a target: every zone, or one zone with zone."""
        self._set_climate((args.zone,) if args.zone else ZONES, args.power, args.target_c)
        return {
            "climate_on": self.state.climate_on,
            "climate_zones": self.state.climate_zones,
            "zone_targets_c": self.state.zone_targets_c,
        }

    def _set_climate(self, zones: tuple[Zone, ...], power: bool | None, target_c: float | None) -> None:
        s = self.state
        if power is not None:
            on = set(s.climate_zones) | set(zones) if power else set(s.climate_zones) - set(zones)
            s.climate_zones = [z for z in ZONES if z in on]
            s.climate_on = bool(on)
        if target_c is not None:
            s.zone_targets_c = {**s.zone_targets_c, **dict.fromkeys(zones, target_c)}

    @command("simulate.outdoor", OutdoorArgs)
    async def simulate_outdoor(self, args: OutdoorArgs) -> dict[str, Any]:
        """Test stimulus: the outside temperature changes."""
        self.state.outdoor_temp_c = args.outdoor_temp_c
        return {}

    @command("display.show", DisplayArgs)
    async def display_show(self, args: DisplayArgs) -> dict[str, Any]:
        """Show a message on the cabin display (kept, with the last few, in state)."""
        message = DisplayMessage(text=args.text, level=args.level, ts=self.clock.iso())
        self.state.display = message
        self.state.display_history = [*self.state.display_history, message][-DISPLAY_HISTORY:]
        await self.emit("displayed", text=args.text, level=args.level)
        return {"shown": True}

    # -- voice ---------------------------------------------------------------------------------
    @command("hear", HearArgs)
    async def hear(self, args: HearArgs) -> dict[str, Any]:
        """Test stimulus: someone in a seat zone speaks; the on-board assistant acts or passes it on."""
        decision = car_assistant.decide(
            self.grammar, args.text, args.zone, ZONES, home_reachable=self._home_reachable()
        )
        if decision.change is not None:
            change = decision.change
            self._set_climate(tuple(z for z in ZONES if z in change.zones), change.power, change.target_c)
        if self.state.internet:  # handled: the car answered it itself (the orchestrator then stays silent)
            await self.emit("utterance", zone=args.zone, text=args.text, level_db=args.level_db, handled=decision.local)
        if decision.local:
            parse = decision.parse
            await self.emit(
                "voice", zone=args.zone, text=args.text, lang=parse.lang, intent=parse.intent,
                slots=decision.slots or parse.slots, outcome=decision.outcome, reply=decision.reply,
            )  # fmt: skip
            assert decision.reply is not None
            await self._speak(decision.reply, args.zone)
        return {"zone": args.zone, "handled": decision.local, "outcome": decision.outcome}

    @command("say", CarSayArgs)
    async def say(self, args: CarSayArgs) -> dict[str, Any]:
        """Say a text in the cabin, or in one seat zone's speakers."""
        await self._speak(args.text, args.zone)
        return {"spoken": True, "zone": args.zone}

    async def _speak(self, text: str, zone: str | None) -> None:
        self.state.last_spoken = text
        await self.emit("spoke", text=text, zone=zone)

    def _home_reachable(self) -> bool:
        """The home's orchestrator can be reached: the car has internet and the orchestrator is online."""
        return self.state.internet and self._orchestrator_online

    def _on_availability(self, message: Message) -> None:
        super()._on_availability(message)
        ref = self.topics.parse(message.topic)
        if ref is not None and ref.device == ORCHESTRATOR:
            self._orchestrator_online = message.payload == ONLINE.encode()

    @command("simulate.internet", OnlineArgs)
    async def simulate_internet(self, args: OnlineArgs) -> dict[str, Any]:
        """Test stimulus: the car's cellular link goes up or down."""
        self.state.internet = args.online
        return {"internet": args.online}

"""Car: a Xiaomi SU7-like electric saloon. Trips with a live ETA, battery and range, cabin
climate, cameras, a cabin display and five seat microphones.

Trips (components/navigation.py, physics/driving.py): ``drive.start`` puts the car in drive;
position, speed and ETA follow in closed form and are published every simulated minute;
``arrived`` fires at the exact ETA, re-planned whenever traffic or a reroute changes it
(``eta_changed``). Arrival parks the car. The gear is ``drive`` exactly while a trip is under way.

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

Cabin climate (components/cabin.py, physics/thermal.py): one thermal mass with an inverter heat
pump, with a car's constants (the config defaults; components/cabin.py says where they come from).
Per-zone climate (components/cabin.py): five seat zones, each on or off with its own set point;
the one-mass cabin is driven to the mean set point of the zones that are on.

Cameras ``front``, ``rear`` and ``cabin`` are media sources (nominal frame sizes: 1920x1080
outside, 1280x720 cabin). When the car is parked and locked every stream ends and new viewers
are refused. The display keeps its message and the last few (components/display.py).
``internet`` is the car's cellular link (``simulate.internet``).

Voice (components/voice.py): ``hear`` is the test stimulus of someone speaking in a seat zone.
The on-board assistant
(car_assistant.py, docs/voice.md) handles the car's own functions itself, online or not, and
answers with ``say`` in that zone (``voice`` and ``spoke`` events). While the car has internet
it publishes every utterance (``handled`` tells whether it already answered) so the orchestrator
can arbitrate and answer the rest. Requests for the home need the home reachable (internet, and
the orchestrator's ``$availability`` online); otherwise the car answers "no connection" itself.
Without internet it publishes no utterance at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from hyperhome.broker.topics import ORCHESTRATOR
from hyperhome.broker.wire import ONLINE
from hyperhome.devices import car_assistant
from hyperhome.devices.base import Args, DeviceConfig, DeviceSpec, DeviceState, NoArgs, command
from hyperhome.devices.clock import iso
from hyperhome.devices.components import cabin, display
from hyperhome.devices.components.cabin import ZONES, ClimateSetArgs, SetPointC, Zone
from hyperhome.devices.components.display import DisplayArgs, DisplayMessage
from hyperhome.devices.components.navigation import (
    DriveStartArgs,
    Navigation,
    ProfileName,
    RerouteArgs,
    TrafficFactorArgs,
)
from hyperhome.devices.components.voice import MAX_TEXT
from hyperhome.devices.media import MediaSource
from hyperhome.devices.physics import driving, thermal
from hyperhome.errors import CommandError, ConfigError, ErrorCode
from hyperhome.voice import Grammar

if TYPE_CHECKING:
    from hyperhome.broker.client import Message
    from hyperhome.broker.topics import Topics
    from hyperhome.devices.clock import Clock, TimerHandle


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


class HearArgs(Args):
    zone: Zone
    """The seat zone whose microphone hears it."""
    text: str = Field(min_length=1, max_length=MAX_TEXT)
    """What was said (already transcribed)."""
    level_db: float = Field(60.0, ge=0, le=130)
    """Speech level at the microphone, dB(A): about 60 normal, 78 shouted."""


class CarSayArgs(Args):
    text: str = Field(min_length=1, max_length=MAX_TEXT)
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
    shadow = ("_battery_kwh", "_cabin_c", "_climate_kwh", "_odometer_km", "_nav")

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
        self._nav = Navigation()
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
        return cabin.hvac(
            on=s.climate_on, zones=s.climate_zones, targets_c=s.zone_targets_c, cabin_c=self._cabin_c,
            outdoor_c=s.outdoor_temp_c, model=self.cabin,
        )  # fmt: skip

    def advance(self, now: float, elapsed_s: float) -> None:
        trip = self._nav.trip
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
        s, trip = self.state, self._nav.trip
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
        s.profile = self._nav.profile
        s.speed_kmh = round(trip.speed_kmh(now), 2)
        s.traffic_factor = round(trip.speed_kmh(now) / self._nav.base_speed_kmh, 3)
        s.driven_km, s.remaining_km = round(trip.driven_km(now), 3), round(trip.remaining_km(now), 3)
        s.eta = iso(trip.eta_s())
        s.minutes_to_arrival = round(max(0.0, trip.eta_s() - now) / 60.0, 1)

    # -- trips ---------------------------------------------------------------------------------
    def replan(self) -> None:
        super().replan()
        self._plan_arrival()

    def _plan_arrival(self) -> None:
        if self._arrival is not None:
            self._arrival.cancel()
            self._arrival = None
        if self._nav.trip is not None:
            self._arrival = self.at(self._nav.trip.eta_s(), self._on_eta)

    async def _on_eta(self) -> None:
        """At the ETA: advancing to now ends the trip (whichever advance sees it first reports it)."""
        self._arrival = None
        await self.publish_state_if_changed()

    async def _report_arrival(self, trip: driving.Trip) -> None:
        await self.publish_state_if_changed()
        minutes = round((trip.eta_s() - trip.departed_s) / 60.0, 1)
        await self.emit("arrived", destination=trip.destination, distance_km=trip.distance_km, minutes=minutes)

    def _end_trip(self, *, location: str) -> None:
        self._nav.end()
        self._plan_arrival()
        self.state.location = location
        self._secure_cameras()

    def _check_range(self, km: float) -> None:
        if km > self.state.range_km:
            msg = f"not enough charge: {km:g} km to go, range {self.state.range_km:g} km"
            raise CommandError(ErrorCode.REJECTED, msg)

    async def _replanned(self, trip: driving.Trip, reason: str) -> dict[str, Any]:
        previous = self._nav.take(trip)
        self._plan_arrival()
        self._refresh_state(self.clock.now())
        eta = trip.eta_s()
        if previous is not None:
            await self.emit("eta_changed", eta=iso(eta), previous=iso(previous), reason=reason)
        return {"eta": iso(eta), "remaining_km": self.state.remaining_km}

    @command("drive.start", DriveStartArgs)
    async def drive_start(self, args: DriveStartArgs) -> dict[str, Any]:
        """Start a trip: gear drive at the profile's (or the given) average speed; ETA in the reply."""
        if self._nav.trip is None:
            self._check_range(args.distance_km)
        now = self.clock.now()
        trip = self._nav.begin(args, now=now, top_speed_kmh=self.config.top_speed_kmh)
        self.state.location = "road"
        self._plan_arrival()
        self._refresh_state(now)
        eta, speed = iso(trip.eta_s()), self._nav.base_speed_kmh
        await self.emit(
            "departed", destination=args.destination, distance_km=args.distance_km, profile=self._nav.profile,
            speed_kmh=speed, eta=eta,
        )  # fmt: skip
        return {"eta": eta, "speed_kmh": speed}

    @command("drive.reroute", RerouteArgs)
    async def drive_reroute(self, args: RerouteArgs) -> dict[str, Any]:
        """Take a new route from here: distance_km still to go (and optionally a new destination)."""
        trip = self._nav.require()
        self._check_range(args.distance_km)
        return await self._replanned(trip.rerouted(self.clock.now(), args.distance_km, args.destination), "reroute")

    @command("simulate.traffic", TrafficFactorArgs)
    async def simulate_traffic(self, args: TrafficFactorArgs) -> dict[str, Any]:
        """Test stimulus: traffic changes the speed to factor x free flow for the rest of the trip."""
        top = self.config.top_speed_kmh
        return await self._replanned(
            self._nav.in_traffic(args.factor, now=self.clock.now(), top_speed_kmh=top), "traffic"
        )

    @command("drive.cancel", NoArgs)
    async def drive_cancel(self, args: NoArgs) -> dict[str, Any]:
        """Stop the trip where the car is and park; no arrival follows."""
        return await self._cancel("cancelled")

    @command("park", NoArgs)
    async def park(self, args: NoArgs) -> dict[str, Any]:
        """Shift to park; during a trip this ends it where the car is (trip_cancelled)."""
        if self._nav.trip is None:
            return {"gear": "park"}
        return await self._cancel("parked")

    async def _cancel(self, reason: str) -> dict[str, Any]:
        trip, now = self._nav.require(), self.clock.now()
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
        return self.end_leases() if self.state.locked and self._nav.trip is None else []

    def check_stream(self, stream: str, viewer: str) -> None:
        if self.state.locked and self._nav.trip is None:
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
            s.climate_zones = cabin.zones_on(s.climate_zones, zones, power)
            s.climate_on = bool(s.climate_zones)
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
        self.state.display_history = display.kept(self.state.display_history, message)
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

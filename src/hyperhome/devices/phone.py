"""Phone: the user's hand in the system. Cameras, a cellular modem with a hotspot, where it is,
its battery, notifications, and taps that ask for things.

Cameras
    ``rear`` (1920 x 1080) and ``front`` (1280 x 720) are media sources (media.py):
    ``stream.start`` / ``stream.stop`` leases, frames at the highest fps asked. ``streaming`` in
    state lists the viewers of each stream with a live lease.

Cellular modem and hotspot (physics/radio.py)
    ``signal_dbm`` is the LTE RSRP (null: no service) and ``bars`` its 0-4 bars. ``hotspot.start``
    turns the Wi-Fi hotspot on and replies with its SSID and WPA2 password: the password is in
    that reply only, never in state or events (every controller can read those) and never logged.
    A flow tells the phone who joined (``hotspot.admit``) and who left (``hotspot.release``); a
    client whose ``$availability`` goes ``offline`` is released by itself. Client traffic is
    counted on the phone's modem in closed form (``simulate.traffic``: a burst in MB and/or a
    steady rate in MB/h), per client and in ``data_used_mb``, and only while there is service.

Location
    ``location`` is a named place (``home``, ``office``, ``road``, ...) or ``"lat,lon"``;
    ``distance_home_km`` is known for home (0), for coordinates when config ``home_lat_lon`` is
    set (great-circle distance), for places listed in config ``places_km``, or when given
    (``move {distance_km}``, ``simulate.approach``); else null. Coordinates within
    ``arrival_radius_km`` of home are home. Geofence events: ``left_home`` when the location
    leaves ``home``; ``approaching_home`` when the distance crosses ``approach_radius_km`` inward
    (from farther, or from an unknown distance away from home; never on the way out of home);
    ``arrived_home`` when the location becomes ``home`` (a jump straight home emits only that).
    ``simulate.approach {distance_km, speed_kmh?}`` puts the phone on the ``road`` that far from
    home; with a speed it then travels home at that speed: the distance shrinks in closed form,
    ``approaching_home`` fires at the exact crossing moment and ``arrived_home`` on arrival.
    ``moved {from, to}`` accompanies every change of ``location``.

Battery (physics/battery.py)
    Linear at a rate that depends on what runs: idle drain, plus the hotspot's, or charging.
    ``low_battery`` is emitted once per downward crossing of ``low_battery_pct``, at the exact
    moment (scheduled, re-planned whenever the rate changes); it re-arms once the level is back
    at ``low_battery_pct + low_battery_rearm_bump_pct``. An empty battery stays at 0 % and the
    phone keeps running (shutting it down is not modelled).

Constants (the config defaults) and where they come from:

- ``idle_drain_pct_per_h = 1``, ``hotspot_drain_pct_per_h = 12`` (on top of idle, whenever the
  hotspot is on), ``charge_pct_per_h = 60`` (net of idle; the hotspot's drain still applies):
  physics/battery.py, with its sources.
- ``low_battery_pct = 15``, ``low_battery_rearm_bump_pct = 5``: AOSP
  ``config_lowBatteryWarningLevel`` (15) and ``config_lowBatteryCloseWarningBump`` (5) in
  frameworks/base core/res/res/values/config.xml.
- ``approach_radius_km = 2``: HyperHome issue 3's example radius for "approaching home".
- ``arrival_radius_km = 0.1``: Android's geofencing guidance (developer.android.com, "Create
  and monitor geofences") recommends a radius of at least 100-150 m for reliable triggers.
- ``EARTH_RADIUS_KM = 6371.0088``: the IUGG mean Earth radius, for great-circle distances.
- ``notifications_kept = 20``: a design choice that keeps the retained state small; newest last.
- Camera sizes: 1080p is the default video size of phone camera apps' rear camera; 720p is what
  video-call apps send from a front camera (as tablet.py).
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from hyperhome.broker.topics import ID_PATTERN
from hyperhome.broker.wire import OFFLINE
from hyperhome.devices.base import Args, DeviceConfig, DeviceSpec, DeviceState, NoArgs, Rejected, command
from hyperhome.devices.media import MediaSource
from hyperhome.devices.physics import battery, radio

if TYPE_CHECKING:
    from hyperhome.broker.client import Message
    from hyperhome.broker.topics import Topics
    from hyperhome.devices.clock import Clock, TimerHandle

HOME = "home"
ROAD = "road"
EARTH_RADIUS_KM = 6371.0088
_COORDS = re.compile(r"^\s*(-?\d{1,3}(?:\.\d+)?)\s*,\s*(-?\d{1,3}(?:\.\d+)?)\s*$")


def parse_coords(text: str) -> tuple[float, float] | None:
    """``(lat, lon)`` from ``"lat,lon"``; None for a place name; ValueError when out of range."""
    match = _COORDS.match(text)
    if match is None:
        if "," in text:
            msg = f"{text!r} is neither a place name nor coordinates 'lat,lon'"
            raise ValueError(msg)
        return None
    lat, lon = float(match[1]), float(match[2])
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        msg = f"coordinates {text!r} out of range (lat -90..90, lon -180..180)"
        raise ValueError(msg)
    return lat, lon


def great_circle_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Haversine distance between two (lat, lon) points on a sphere of the mean Earth radius."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def _location(value: str) -> str:
    parse_coords(value)
    return value


def _ssid(value: str) -> str:
    if not radio.ssid_ok(value):
        msg = f"an SSID is 1 to {radio.SSID_MAX_OCTETS} octets (UTF-8)"
        raise ValueError(msg)
    return value


Location = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_location)]
Ssid = Annotated[str, Field(min_length=1, max_length=radio.SSID_MAX_OCTETS), AfterValidator(_ssid)]
ClientId = Annotated[str, Field(pattern=ID_PATTERN)]


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, use_attribute_docstrings=True)


class HotspotClient(_Part):
    id: ClientId
    """Device id of the client."""
    used_mb: float = Field(0.0, ge=0)
    """Data this client used through the hotspot since it joined."""
    mb_per_h: float = Field(0.0, ge=0)
    """Its steady traffic (simulate.traffic)."""


class HotspotState(_Part):
    on: bool = False
    """The hotspot is broadcasting."""
    ssid: str | None = None
    """Its network name (null while off). The password is never in state."""
    clients: list[HotspotClient] = []
    """Devices joined to it, in joining order."""


class Notification(_Part):
    title: str
    body: str
    app: str | None = None
    ts: str
    """When it was shown (simulation time)."""


class PhoneState(DeviceState):
    battery_pct: float = Field(80.0, ge=0, le=100)
    """Battery level (idle -1 %/h, hotspot -12 %/h more, charging +60 %/h; physics/battery.py)."""
    charging: bool = False
    """A charger is plugged in."""
    location: Location = HOME
    """A named place (home, office, road, ...) or "lat,lon"."""
    distance_home_km: float | None = Field(0.0, ge=0)
    """Distance from home (null: unknown); see the module docstring for where it comes from."""
    signal_dbm: int | None = Field(-90, ge=radio.RSRP_MIN_DBM, le=radio.RSRP_MAX_DBM)
    """LTE signal (RSRP, dBm); null means no service. Change it with simulate.signal."""
    bars: int = Field(3, ge=0, le=4)
    """Signal bars shown for signal_dbm (derived, Android's default LTE thresholds)."""
    data_used_mb: float = Field(0.0, ge=0)
    """Mobile data counted on the modem since the phone started (hotspot clients' traffic included)."""
    hotspot: HotspotState = HotspotState()
    """The Wi-Fi hotspot: on, ssid, clients (never the password)."""
    streaming: dict[str, list[str]] = Field({})
    """Viewers holding a live lease, per camera stream (derived)."""
    notifications: list[Notification] = Field([])
    """Notifications shown, newest last (the last notifications_kept)."""


class PhoneConfig(DeviceConfig):
    idle_drain_pct_per_h: float = Field(1.0, ge=0)
    """Battery drain with the screen off and radios on."""
    hotspot_drain_pct_per_h: float = Field(12.0, ge=0)
    """Extra drain while the hotspot is on."""
    charge_pct_per_h: float = Field(60.0, ge=0)
    """Battery gain on the charger (net of idle drain)."""
    low_battery_pct: float = Field(15.0, gt=0, lt=100)
    """low_battery fires when the level crosses this downward."""
    low_battery_rearm_bump_pct: float = Field(5.0, gt=0)
    """low_battery re-arms once the level is back at low_battery_pct plus this."""
    approach_radius_km: float = Field(2.0, gt=0)
    """approaching_home fires when the distance to home crosses this inward."""
    arrival_radius_km: float = Field(0.1, ge=0)
    """Coordinates this close to home count as home."""
    home_lat_lon: Location | None = None
    """Home's coordinates "lat,lon" (to measure distances from coordinates)."""
    places_km: dict[str, float] = Field({})
    """Known places and their distance from home, e.g. {"office": 12}."""
    notifications_kept: int = Field(20, ge=1, le=200)
    """How many notifications state keeps."""
    hotspot_max_clients: int = Field(radio.HOTSPOT_MAX_CLIENTS, ge=1)
    """Clients the hotspot admits at once."""

    @model_validator(mode="after")
    def _home_is_coordinates(self) -> PhoneConfig:
        if self.home_lat_lon is not None and parse_coords(self.home_lat_lon) is None:
            msg = "home_lat_lon must be coordinates 'lat,lon'"
            raise ValueError(msg)
        return self


class TapArgs(Args):
    intent: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    """What the user asks for, e.g. precool."""
    args: dict[str, Any] = Field({})
    """The intent's arguments, passed on as they are."""


class MoveArgs(Args):
    location: Location
    """The place the phone is now at: a name or "lat,lon"."""
    distance_km: float | None = Field(None, ge=0, le=20000)
    """Its distance from home, if known (0 only for home)."""


class ApproachArgs(Args):
    distance_km: float = Field(gt=0, le=20000)
    """The phone is on the road this far from home."""
    speed_kmh: float | None = Field(None, gt=0, le=300)
    """If given, it travels home at this speed from there."""


class ChargeArgs(Args):
    on: bool
    """Plugged in (true) or out."""


class HotspotStartArgs(Args):
    ssid: Ssid | None = None
    """Network name (default: the phone's name)."""
    password: str | None = Field(None, pattern=radio.PASSPHRASE_PATTERN)
    """WPA2 passphrase, 8 to 63 printable ASCII characters (default: a random 16-character one)."""


class ClientArgs(Args):
    client: ClientId
    """Device id of the client."""


class TrafficArgs(Args):
    client: ClientId
    """An admitted client."""
    mb: float | None = Field(None, ge=0, le=100000)
    """A burst of this many MB now."""
    mb_per_h: float | None = Field(None, ge=0, le=100000)
    """From now on, a steady rate (0 stops it)."""

    @model_validator(mode="after")
    def _something(self) -> TrafficArgs:
        if self.mb is None and self.mb_per_h is None:
            msg = "give mb, mb_per_h or both"
            raise ValueError(msg)
        return self


class SignalArgs(Args):
    dbm: int | None = Field(ge=radio.RSRP_MIN_DBM, le=radio.RSRP_MAX_DBM)
    """LTE RSRP in dBm, -140 to -44; null for no service."""


class NotifyArgs(Args):
    title: str = Field(min_length=1, max_length=120)
    """The notification's title."""
    body: str = Field("", max_length=1000)
    """Its text."""
    app: str | None = Field(None, min_length=1, max_length=64)
    """The app that posts it."""


class Phone(MediaSource):
    kind = "phone"
    State = PhoneState
    Config = PhoneConfig
    capabilities = ("intents", "location", "battery", "camera", "hotspot", "notifications")
    streams: ClassVar[tuple[str, ...]] = ("rear", "front")
    resolutions: ClassVar[dict[str, tuple[int, int]]] = {"rear": (1920, 1080), "front": (1280, 720)}
    events: ClassVar[dict[str, str]] = {
        "intent": "the user asked for something: intent, args, user",
        "moved": "the phone changed place: from, to",
        "left_home": "the phone left home: to, distance_home_km",
        "approaching_home": "the phone came within the approach radius of home: distance_km, "
        "minutes_to_home (null unless travelling at a known speed)",
        "arrived_home": "the phone arrived home: from",
        "low_battery": "the battery crossed the low level downward: battery_pct, hotspot, minutes_to_empty",
        "hotspot_started": "the hotspot is on: ssid",
        "hotspot_stopped": "the hotspot is off: ssid, clients (that were dropped)",
        "hotspot_client_joined": "a device joined the hotspot: client, ssid",
        "hotspot_client_left": "a device left the hotspot: client, used_mb, reason (released, offline)",
        "notified": "a notification was shown: title, body, app",
    }
    refresh_s = 300.0

    state: PhoneState
    config: PhoneConfig

    def __init__(self, spec: DeviceSpec, *, home: str, clock: Clock, topics: Topics | None = None) -> None:
        super().__init__(spec, home=home, clock=clock, topics=topics)
        self._battery_pct = self.state.battery_pct
        self._low_armed = self._battery_pct > self.config.low_battery_pct
        self._low_timer: TimerHandle | None = None
        self._password: str | None = radio.generate_password() if self.state.hotspot.on else None
        self._data_mb = self.state.data_used_mb
        self._client_mb = {c.id: c.used_mb for c in self.state.hotspot.clients}
        self._trip: tuple[float, float, float] | None = None  # start_s, start_km, speed_kmh
        self._trip_timers: list[TimerHandle] = []
        self.state.bars = radio.bars(self.state.signal_dbm)
        self.state.streaming = {}
        if "distance_home_km" not in spec.state:
            self.state.distance_home_km = self._distance_of(self.state.location, parse_coords(self.state.location))
        elif self.state.location == HOME:
            self.state.distance_home_km = 0.0

    async def on_start(self) -> None:
        await super().on_start()
        self._plan_low_battery()

    # -- physics -------------------------------------------------------------------------------
    def _rate(self) -> float:
        c = self.config
        rate = c.charge_pct_per_h if self.state.charging else -c.idle_drain_pct_per_h
        return rate - c.hotspot_drain_pct_per_h if self.state.hotspot.on else rate

    def _traffic_mb_per_h(self) -> float:
        hotspot = self.state.hotspot
        if not hotspot.on or self.state.signal_dbm is None:
            return 0.0
        return sum(c.mb_per_h for c in hotspot.clients)

    def advance(self, now: float, elapsed_s: float) -> None:
        self._battery_pct = battery.level_after(self._battery_pct, self._rate(), elapsed_s)
        self.state.battery_pct = round(self._battery_pct, 3)
        rearm_pct = self.config.low_battery_pct + self.config.low_battery_rearm_bump_pct
        if not self._low_armed and self._battery_pct >= rearm_pct:
            self._low_armed = True
        if self._traffic_mb_per_h() > 0:
            for client in self.state.hotspot.clients:
                self._client_mb[client.id] = radio.data_after(self._client_mb[client.id], client.mb_per_h, elapsed_s)
                client.used_mb = round(self._client_mb[client.id], 3)
            self._data_mb = radio.data_after(self._data_mb, self._traffic_mb_per_h(), elapsed_s)
            self.state.data_used_mb = round(self._data_mb, 3)
        if self._trip is not None:
            start_s, start_km, speed_kmh = self._trip
            self.state.distance_home_km = round(max(0.0, start_km - speed_kmh * (now - start_s) / 3600.0), 3)

    def _plan_low_battery(self) -> None:
        """(Re)schedule ``low_battery`` at the exact moment the level will cross the threshold."""
        if self._low_timer is not None:
            self._low_timer.cancel()
            self._low_timer = None
        if not self._low_armed:
            return
        eta = battery.time_to_level_s(self._battery_pct, self._rate(), self.config.low_battery_pct)
        if eta is not None:
            self._low_timer = self.at(self.clock.now() + eta, self._on_low_battery)

    async def _on_low_battery(self) -> None:
        self._low_timer = None
        self._low_armed = False
        await self.publish_state()
        to_empty = battery.time_to_level_s(self._battery_pct, self._rate(), 0.0)
        await self.emit(
            "low_battery",
            battery_pct=round(self._battery_pct, 1),
            hotspot=self.state.hotspot.on,
            minutes_to_empty=None if to_empty is None else round(to_empty / 60.0, 1),
        )

    # -- cameras -------------------------------------------------------------------------------
    def on_leases_changed(self) -> None:
        streaming: dict[str, set[str]] = {}
        for lease in self.active_leases():
            streaming.setdefault(lease.stream, set()).add(lease.viewer)
        self.state.streaming = {name: sorted(viewers) for name, viewers in streaming.items()}
        self.spawn(self.publish_state_if_changed())

    def _on_availability(self, message: Message) -> None:
        super()._on_availability(message)
        ref = self.topics.parse(message.topic)
        if ref is None or message.payload != OFFLINE.encode():
            return
        if any(c.id == ref.device for c in self.state.hotspot.clients):
            self.spawn(self._client_gone(ref.device))

    async def _client_gone(self, client: str) -> None:
        self._advance()
        if any(c.id == client for c in self.state.hotspot.clients):
            used_mb = self._drop_client(client)
            await self.publish_state()
            await self.emit("hotspot_client_left", client=client, used_mb=used_mb, reason="offline")

    # -- commands: intents, battery ------------------------------------------------------------
    @command("tap", TapArgs)
    async def tap(self, args: TapArgs) -> dict[str, Any]:
        """The user taps a shortcut: publishes ``event/intent`` for the orchestrator to act on."""
        await self.emit("intent", intent=args.intent, args=args.args, user=self.spec.owner)
        return {"intent": args.intent}

    @command("charge", ChargeArgs)
    async def charge(self, args: ChargeArgs) -> dict[str, Any]:
        """Test stimulus: plug the charger in or out."""
        self.state.charging = args.on
        self._plan_low_battery()
        return {"charging": args.on}

    @command("notify", NotifyArgs)
    async def notify(self, args: NotifyArgs) -> dict[str, Any]:
        """Show a notification (kept in state, newest last, the last notifications_kept)."""
        note = Notification(title=args.title, body=args.body, app=args.app, ts=self.clock.iso())
        self.state.notifications = [*self.state.notifications, note][-self.config.notifications_kept :]
        await self.emit("notified", title=args.title, body=args.body, app=args.app)
        return {"shown": len(self.state.notifications)}

    @command("notifications.clear")
    async def notifications_clear(self, args: NoArgs) -> dict[str, Any]:
        """Dismiss every notification."""
        cleared = len(self.state.notifications)
        self.state.notifications = []
        return {"cleared": cleared}

    # -- commands: location --------------------------------------------------------------------
    @command("move", MoveArgs)
    async def move(self, args: MoveArgs) -> dict[str, Any]:
        """Test stimulus: the phone (and its user) is now at ``location`` (optionally ``distance_km`` from home)."""
        location, distance = args.location, args.distance_km
        if location == HOME and distance not in (None, 0):
            msg = "home is 0 km from home"
            raise ValueError(msg)
        coords = parse_coords(location)
        if distance is None:
            distance = self._distance_of(location, coords)
        near_home = coords is not None and distance is not None and distance <= self.config.arrival_radius_km
        if location == HOME or near_home:
            location, distance = HOME, 0.0
        await self._relocate(location, distance, minutes_to_home=None)
        return {"location": location, "distance_home_km": distance}

    @command("simulate.approach", ApproachArgs)
    async def simulate_approach(self, args: ApproachArgs) -> dict[str, Any]:
        """Test stimulus: the phone is on the road ``distance_km`` from home (travelling home at ``speed_kmh``)."""
        speed = args.speed_kmh
        eta_s = None if speed is None else args.distance_km / speed * 3600.0
        minutes = None if eta_s is None else round(eta_s / 60, 1)
        await self._relocate(ROAD, args.distance_km, minutes_to_home=minutes)
        if speed is not None and eta_s is not None:
            now = self.clock.now()
            self._trip = (now, args.distance_km, speed)
            inward_km = args.distance_km - self.config.approach_radius_km
            if inward_km > 0:
                self._trip_timers.append(self.at(now + inward_km / speed * 3600.0, self._on_trip_crosses_radius))
            self._trip_timers.append(self.at(now + eta_s, self._on_trip_arrives))
        return {"location": ROAD, "distance_home_km": args.distance_km, "minutes_to_home": minutes}

    def _distance_of(self, location: str, coords: tuple[float, float] | None) -> float | None:
        if location == HOME:
            return 0.0
        if coords is not None:
            home = self.config.home_lat_lon
            home_coords = parse_coords(home) if home is not None else None
            return None if home_coords is None else round(great_circle_km(coords, home_coords), 3)
        return self.config.places_km.get(location)

    def _stop_trip(self) -> None:
        self._trip = None
        for timer in self._trip_timers:
            timer.cancel()
        self._trip_timers.clear()

    async def _relocate(self, location: str, distance: float | None, *, minutes_to_home: float | None) -> None:
        """Move to ``location`` at ``distance`` from home, emitting moved and the geofence events."""
        self._stop_trip()
        before, before_km = self.state.location, self.state.distance_home_km
        self.state.location, self.state.distance_home_km = location, distance
        if before != location:
            await self.emit("moved", **{"from": before, "to": location})
        if before == HOME and location != HOME:
            await self.emit("left_home", to=location, distance_home_km=distance)
        if location == HOME and before != HOME:
            await self.emit("arrived_home", **{"from": before})
        elif location != HOME and before != HOME and distance is not None:
            radius = self.config.approach_radius_km
            if distance <= radius and (before_km is None or before_km > radius):
                await self.emit("approaching_home", distance_km=distance, minutes_to_home=minutes_to_home)

    async def _on_trip_crosses_radius(self) -> None:
        assert self._trip is not None
        await self.publish_state()
        radius, speed = self.config.approach_radius_km, self._trip[2]
        await self.emit("approaching_home", distance_km=radius, minutes_to_home=round(radius / speed * 60, 1))

    async def _on_trip_arrives(self) -> None:
        self._advance()
        await self._relocate(HOME, 0.0, minutes_to_home=None)
        await self.publish_state()

    # -- commands: modem and hotspot -----------------------------------------------------------
    @command("simulate.signal", SignalArgs)
    async def simulate_signal(self, args: SignalArgs) -> dict[str, Any]:
        """Test stimulus: the cellular signal changes (null: no service; traffic stops counting)."""
        self.state.signal_dbm = args.dbm
        self.state.bars = radio.bars(args.dbm)
        return {"signal_dbm": args.dbm, "bars": self.state.bars}

    @command("hotspot.start", HotspotStartArgs)
    async def hotspot_start(self, args: HotspotStartArgs) -> dict[str, Any]:
        """Turn the hotspot on; the reply (and only the reply) carries its SSID and password."""
        hotspot = self.state.hotspot
        if hotspot.on:
            if args.ssid not in (None, hotspot.ssid) or args.password not in (None, self._password):
                msg = f"the hotspot {hotspot.ssid!r} is already on; stop it first to change its name or password"
                raise Rejected(msg)
            return {"ssid": hotspot.ssid, "password": self._password, "already_on": True}
        ssid = args.ssid or radio.ssid_from_name(self.name)
        password = args.password or radio.generate_password()
        self.state.hotspot = HotspotState(on=True, ssid=ssid)
        self._password = password
        self._client_mb = {}
        self._plan_low_battery()
        await self.emit("hotspot_started", ssid=ssid)
        return {"ssid": ssid, "password": password, "already_on": False}

    @command("hotspot.stop")
    async def hotspot_stop(self, args: NoArgs) -> dict[str, Any]:
        """Turn the hotspot off; every client is dropped."""
        hotspot = self.state.hotspot
        if not hotspot.on:
            msg = "the hotspot is already off"
            raise Rejected(msg)
        dropped = [c.id for c in hotspot.clients]
        self.state.hotspot = HotspotState()
        self._password = None
        self._client_mb = {}
        self._plan_low_battery()
        await self.emit("hotspot_stopped", ssid=hotspot.ssid, clients=dropped)
        return {"ssid": hotspot.ssid, "dropped": dropped}

    @command("hotspot.admit", ClientArgs)
    async def hotspot_admit(self, args: ClientArgs) -> dict[str, Any]:
        """A device joined the hotspot (a flow tells the phone): its traffic counts from now on."""
        hotspot = self.state.hotspot
        if not hotspot.on:
            msg = "the hotspot is off"
            raise Rejected(msg)
        if args.client == self.id:
            msg = "the phone cannot join its own hotspot"
            raise Rejected(msg)
        if any(c.id == args.client for c in hotspot.clients):
            return {"client": args.client, "already": True, "clients": len(hotspot.clients)}
        if len(hotspot.clients) >= self.config.hotspot_max_clients:
            msg = f"the hotspot is full ({self.config.hotspot_max_clients} clients)"
            raise Rejected(msg)
        hotspot.clients = [*hotspot.clients, HotspotClient(id=args.client)]
        self._client_mb[args.client] = 0.0
        await self.emit("hotspot_client_joined", client=args.client, ssid=hotspot.ssid)
        return {"client": args.client, "already": False, "clients": len(hotspot.clients)}

    @command("hotspot.release", ClientArgs)
    async def hotspot_release(self, args: ClientArgs) -> dict[str, Any]:
        """A device left the hotspot; its data stays counted on the modem."""
        if not any(c.id == args.client for c in self.state.hotspot.clients):
            msg = f"{args.client} is not on the hotspot"
            raise Rejected(msg)
        used_mb = self._drop_client(args.client)
        await self.emit("hotspot_client_left", client=args.client, used_mb=used_mb, reason="released")
        return {"client": args.client, "used_mb": used_mb}

    def _drop_client(self, client: str) -> float:
        hotspot = self.state.hotspot
        hotspot.clients = [c for c in hotspot.clients if c.id != client]
        return round(self._client_mb.pop(client, 0.0), 3)

    @command("simulate.traffic", TrafficArgs)
    async def simulate_traffic(self, args: TrafficArgs) -> dict[str, Any]:
        """Test stimulus: a client moves data through the hotspot (a burst in MB and/or a steady MB/h)."""
        client = next((c for c in self.state.hotspot.clients if c.id == args.client), None)
        if client is None:
            msg = f"{args.client} is not on the hotspot"
            raise Rejected(msg)
        if args.mb and self.state.signal_dbm is None:
            msg = "no cellular service: no data goes through"
            raise Rejected(msg)
        if args.mb:
            self._client_mb[client.id] += args.mb
            self._data_mb += args.mb
            client.used_mb = round(self._client_mb[client.id], 3)
            self.state.data_used_mb = round(self._data_mb, 3)
        if args.mb_per_h is not None:
            client.mb_per_h = args.mb_per_h
        return {"client": client.id, "used_mb": client.used_mb, "data_used_mb": self.state.data_used_mb}

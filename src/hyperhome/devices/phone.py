"""Phone: the user's hand in the system. Cameras, a cellular modem with a hotspot, where it is,
its battery, notifications, and taps that ask for things.

Cameras
    ``rear`` (1920 x 1080) and ``front`` (1280 x 720) are media sources (media.py):
    ``stream.start`` / ``stream.stop`` leases, frames at the highest fps asked. ``streaming`` in
    state lists the viewers of each stream with a live lease. 1080p is the default video size of
    phone camera apps' rear camera; 720p is what video-call apps send from a front camera.

Cellular modem and hotspot (physics/radio.py, components/hotspot.py)
    ``signal_dbm`` is the LTE RSRP (null: no service) and ``bars`` its 0-4 bars. ``hotspot.start``
    turns the Wi-Fi hotspot on; its password is never in state, events or logs (components/hotspot.py
    says who sees it). A flow tells the phone who joined (``hotspot.admit``) and who left
    (``hotspot.release``); a client whose ``$availability`` goes ``offline`` is released by itself.
    Client traffic is counted on the phone's modem in closed form (``simulate.traffic``: a burst in
    MB and/or a steady rate in MB/h), per client and in ``data_used_mb``, and only while there is
    service.

Voice (components/voice.py)
    ``hear {text, level_db}`` publishes ``event/utterance {text, level_db}`` for the orchestrator's
    voice assistant, as the speaker does (the phone does not act on words itself). ``say {text}``
    speaks a reply: ``event/spoke`` and ``last_spoken`` in state.

Location (components/geofence.py: distances, the geofence events and trips home)
    ``location`` is a named place (``home``, ``office``, ``road``, ...) or ``"lat,lon"``. Geofence
    events: ``left_home``, ``approaching_home`` (crossing ``approach_radius_km`` inward),
    ``arrived_home``; ``moved {from, to}`` accompanies every change of ``location``.

Battery (physics/battery.py, components/battery.py)
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
- ``approach_radius_km``, ``arrival_radius_km``: components/geofence.py, with their sources.
- ``notifications_kept = 20``: components/notifications.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, model_validator

from hyperhome.broker.topics import NAME_PATTERN
from hyperhome.broker.wire import OFFLINE
from hyperhome.devices.base import Args, DeviceConfig, DeviceSpec, DeviceState, NoArgs, command
from hyperhome.devices.components import notifications
from hyperhome.devices.components.battery import Battery
from hyperhome.devices.components.geofence import (
    HOME,
    ROAD,
    ApproachArgs,
    Location,
    MoveArgs,
    TripHome,
    destination,
    distance_home_km,
    geofence_events,
    parse_coords,
)
from hyperhome.devices.components.hotspot import (
    ClientArgs,
    ClientTrafficArgs,
    Hotspot,
    HotspotStartArgs,
    HotspotState,
)
from hyperhome.devices.components.notifications import Notification, NotifyArgs
from hyperhome.devices.components.voice import SayArgs
from hyperhome.devices.media import MediaSource
from hyperhome.devices.physics import radio

if TYPE_CHECKING:
    from hyperhome.broker.client import Message
    from hyperhome.broker.topics import Topics
    from hyperhome.devices.clock import Clock, TimerHandle


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
    last_spoken: str | None = None
    """The last text the phone said (say)."""


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


class PhoneHearArgs(Args):
    text: str = Field(min_length=1, max_length=500)
    """What was said to the phone (already transcribed)."""
    level_db: float = Field(60.0, ge=0, le=130)
    """Its sound level at the phone's microphone, dB SPL (conversation at 1 m is about 60)."""


class TapArgs(Args):
    intent: str = Field(pattern=NAME_PATTERN)
    """What the user asks for, e.g. precool."""
    args: dict[str, Any] = Field({})
    """The intent's arguments, passed on as they are."""


class ChargeArgs(Args):
    on: bool
    """Plugged in (true) or out."""


class SignalArgs(Args):
    dbm: int | None = Field(ge=radio.RSRP_MIN_DBM, le=radio.RSRP_MAX_DBM)
    """LTE RSRP in dBm, -140 to -44; null for no service."""


class Phone(MediaSource):
    kind = "phone"
    summary = ("location", "battery_pct", "hotspot.on", "bars")
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
        "hotspot_stopped": "the hotspot is off: ssid, clients (that were dropped), used_mb (per dropped client)",
        "hotspot_client_joined": "a device joined the hotspot: client, ssid",
        "hotspot_client_left": "a device left the hotspot: client, used_mb, reason (released, offline)",
        "notified": "a notification was shown: title, body, app",
        "utterance": "someone spoke to the phone: text, level_db",
        "spoke": "the phone said something: text",
    }
    refresh_s = 300.0
    shadow = ("_battery", "_hotspot", "_trip")

    state: PhoneState
    config: PhoneConfig

    def __init__(self, spec: DeviceSpec, *, home: str, clock: Clock, topics: Topics | None = None) -> None:
        super().__init__(spec, home=home, clock=clock, topics=topics)
        c = self.config
        self._battery = Battery.at(
            self.state.battery_pct, low_pct=c.low_battery_pct, rearm_bump_pct=c.low_battery_rearm_bump_pct
        )
        self._low_timer: TimerHandle | None = None
        self._hotspot = Hotspot.of(self.state.data_used_mb, self.state.hotspot)
        self._trip: TripHome | None = None
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

    def replan(self) -> None:
        super().replan()
        self._plan_low_battery()
        self._plan_trip()

    # -- physics -------------------------------------------------------------------------------
    def _rate(self) -> float:
        c = self.config
        rate = c.charge_pct_per_h if self.state.charging else -c.idle_drain_pct_per_h
        return rate - c.hotspot_drain_pct_per_h if self.state.hotspot.on else rate

    def advance(self, now: float, elapsed_s: float) -> None:
        self._battery.advance(self._rate(), elapsed_s)
        self.state.battery_pct = round(self._battery.pct, 3)
        modem, in_service = self._hotspot.modem, self.state.signal_dbm is not None
        if modem.advance(self.state.hotspot, in_service=in_service, elapsed_s=elapsed_s):
            self.state.data_used_mb = modem.data_used_mb
        if self._trip is not None:
            self.state.distance_home_km = round(self._trip.distance_km(now), 3)

    def _plan_low_battery(self) -> None:
        """(Re)schedule ``low_battery`` at the exact moment the level will cross the threshold."""
        if self._low_timer is not None:
            self._low_timer.cancel()
            self._low_timer = None
        eta = self._battery.seconds_to_low(self._rate())
        if eta is not None:
            self._low_timer = self.at(self.clock.now() + eta, self._on_low_battery)

    async def _on_low_battery(self) -> None:
        self._low_timer = None
        self._battery.fire()
        await self.publish_state()
        await self.emit(
            "low_battery",
            battery_pct=round(self._battery.pct, 1),
            hotspot=self.state.hotspot.on,
            minutes_to_empty=self._battery.minutes_to_empty(self._rate()),
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
            used_mb = self._hotspot.drop(self.state.hotspot, client)
            await self.publish_state()
            await self.emit("hotspot_client_left", client=client, used_mb=used_mb, reason="offline")

    # -- commands: intents, battery ------------------------------------------------------------
    @command("tap", TapArgs)
    async def tap(self, args: TapArgs) -> dict[str, Any]:
        """The user taps a shortcut: publishes ``event/intent`` for the orchestrator to act on."""
        await self.emit("intent", intent=args.intent, args=args.args, user=self.spec.owner)
        return {"intent": args.intent}

    @command("hear", PhoneHearArgs)
    async def hear(self, args: PhoneHearArgs) -> dict[str, Any]:
        """Test stimulus: someone speaks to the phone; publishes ``event/utterance``."""
        await self.emit("utterance", text=args.text, level_db=args.level_db)
        return {"heard": True}

    @command("say", SayArgs)
    async def say(self, args: SayArgs) -> dict[str, Any]:
        """Speak a text aloud (a voice reply)."""
        self.state.last_spoken = args.text
        await self.emit("spoke", text=args.text)
        return {"spoken": True}

    @command("charge", ChargeArgs)
    async def charge(self, args: ChargeArgs) -> dict[str, Any]:
        """Test stimulus: plug the charger in or out."""
        self.state.charging = args.on
        self._plan_low_battery()
        return {"charging": args.on}

    @command("notify", NotifyArgs)
    async def notify(self, args: NotifyArgs) -> dict[str, Any]:
        """Show a notification (kept in state, newest last, the last notifications_kept)."""
        kept = self.config.notifications_kept
        self.state.notifications = notifications.shown(self.state.notifications, args, ts=self.clock.iso(), kept=kept)
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
        c = self.config
        location, distance = destination(
            args, home_lat_lon=c.home_lat_lon, places_km=c.places_km, arrival_radius_km=c.arrival_radius_km
        )
        await self._relocate(location, distance, minutes_to_home=None)
        return {"location": location, "distance_home_km": distance}

    @command("simulate.approach", ApproachArgs)
    async def simulate_approach(self, args: ApproachArgs) -> dict[str, Any]:
        """Test stimulus: the phone is on the road ``distance_km`` from home (travelling home at ``speed_kmh``)."""
        speed = args.speed_kmh
        eta_s = None if speed is None else args.distance_km / speed * 3600.0
        minutes = None if eta_s is None else round(eta_s / 60, 1)
        await self._relocate(ROAD, args.distance_km, minutes_to_home=minutes)
        if speed is not None:
            self._trip = TripHome(self.clock.now(), args.distance_km, speed)
            self._plan_trip()
        return {"location": ROAD, "distance_home_km": args.distance_km, "minutes_to_home": minutes}

    def _distance_of(self, location: str, coords: tuple[float, float] | None) -> float | None:
        c = self.config
        return distance_home_km(location, coords, home_lat_lon=c.home_lat_lon, places_km=c.places_km)

    def _plan_trip(self) -> None:
        """(Re)schedule the trip's radius crossing (if still ahead) and its arrival."""
        for timer in self._trip_timers:
            timer.cancel()
        self._trip_timers.clear()
        if self._trip is None:
            return
        crossing_s = self._trip.crossing_s(self.config.approach_radius_km)
        if crossing_s is not None and crossing_s > self.clock.now():
            self._trip_timers.append(self.at(crossing_s, self._on_trip_crosses_radius))
        self._trip_timers.append(self.at(self._trip.arrival_s(), self._on_trip_arrives))

    async def _relocate(self, location: str, distance: float | None, *, minutes_to_home: float | None) -> None:
        """Move to ``location`` at ``distance`` from home, emitting moved and the geofence events."""
        self._trip = None
        self._plan_trip()
        before, before_km = self.state.location, self.state.distance_home_km
        self.state.location, self.state.distance_home_km = location, distance
        radius = self.config.approach_radius_km
        for event, fields in geofence_events(
            before, before_km, location, distance, approach_radius_km=radius, minutes_to_home=minutes_to_home
        ):
            await self.emit(event, **fields)

    async def _on_trip_crosses_radius(self) -> None:
        assert self._trip is not None
        await self.publish_state()
        radius, speed = self.config.approach_radius_km, self._trip.speed_kmh
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
        """Turn the hotspot on. A password given here is never echoed; one the phone generates is in this reply only."""
        started = self._hotspot.start(self.state.hotspot, args, default_ssid=radio.ssid_from_name(self.name))
        if started is None:
            return self._hotspot.started_reply(self.state.hotspot, already_on=True)
        self.state.hotspot = started
        self._plan_low_battery()
        await self.emit("hotspot_started", ssid=started.ssid)
        return self._hotspot.started_reply(started, already_on=False)

    @command("hotspot.stop")
    async def hotspot_stop(self, args: NoArgs) -> dict[str, Any]:
        """Turn the hotspot off; every client is dropped."""
        stopped = self._hotspot.stop(self.state.hotspot)
        self.state.hotspot = HotspotState()
        self._plan_low_battery()
        await self.emit("hotspot_stopped", ssid=stopped["ssid"], clients=stopped["dropped"], used_mb=stopped["used_mb"])
        return stopped

    @command("hotspot.admit", ClientArgs)
    async def hotspot_admit(self, args: ClientArgs) -> dict[str, Any]:
        """A device joined the hotspot (a flow tells the phone): its traffic counts from now on."""
        hotspot, max_clients = self.state.hotspot, self.config.hotspot_max_clients
        joined = self._hotspot.admit(hotspot, args.client, host=self.id, max_clients=max_clients)
        if joined:
            await self.emit("hotspot_client_joined", client=args.client, ssid=hotspot.ssid)
        return {"client": args.client, "already": not joined, "clients": len(hotspot.clients)}

    @command("hotspot.release", ClientArgs)
    async def hotspot_release(self, args: ClientArgs) -> dict[str, Any]:
        """A device left the hotspot; its data stays counted on the modem."""
        self._hotspot.client(self.state.hotspot, args.client)
        used_mb = self._hotspot.drop(self.state.hotspot, args.client)
        await self.emit("hotspot_client_left", client=args.client, used_mb=used_mb, reason="released")
        return {"client": args.client, "used_mb": used_mb}

    @command("simulate.traffic", ClientTrafficArgs)
    async def simulate_traffic(self, args: ClientTrafficArgs) -> dict[str, Any]:
        """Test stimulus: a client moves data through the hotspot (a burst in MB and/or a steady MB/h)."""
        in_service = self.state.signal_dbm is not None
        client = self._hotspot.traffic(self.state.hotspot, args, in_service=in_service)
        self.state.data_used_mb = self._hotspot.modem.data_used_mb
        return {"client": client.id, "used_mb": client.used_mb, "data_used_mb": self.state.data_used_mb}

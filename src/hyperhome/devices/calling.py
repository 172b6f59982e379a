"""Calling devices: a video-call app and a Wi-Fi/hotspot uplink, shared by tablets and laptops.

``CallingDevice`` is a ``MediaSource`` with one ``front`` camera. ``Tablet`` and ``Laptop``
extend it and add little more than their kind and camera size.

Video call
    ``call.start`` starts a call showing the device's own front camera; ``call.set_video_source``
    switches the picture to any device's stream (the phone's rear camera, say). The app only
    *receives*: it subscribes to ``stream/{stream}`` of the source and unsubscribes from the old
    one. Starting the remote source's lease (``stream.start`` on the phone) is the orchestrator's
    job. Its own camera goes through the same path as a remote one: the app holds a viewer lease
    on its own ``front`` stream (viewer = its own id) and receives its own frames back from the
    broker, so "is video arriving?" means the same thing for every source, and the lease shows
    like any other. Frames are counted in memory, never published per frame; state is published
    at the first frame of a source, when the picture goes blank or comes back, and every
    ``call_refresh_s`` while a call runs if anything changed. ``blank`` turns true once no frame
    of the current source arrived for a few frame intervals (components/video.py), at that exact
    moment. ``video_source_changed`` is emitted once per source at its first frame (also
    for the own camera when a call starts), with ``first_frame_s`` measured from the switch.

Network
    ``wifi`` is the radio's view of the Wi-Fi network around it (``simulate.wifi`` moves it);
    ``uplink`` is the path in use, chosen by one rule whenever anything changes
    (components/uplink.py: a known Wi-Fi in config ``known_wifi``, else a joined hotspot whose
    host is online, else none). ``online`` is true exactly when there is an uplink;
    ``online {uplink}`` / ``offline {reason}`` are emitted on every change of ``online``. The call
    and the network are independent in this model: a call does not drop when the uplink goes.

Getting online through the owner's phone
    A device never talks to the phone: it asks the orchestrator. ``network.request_share``
    publishes ``event/intent {intent: network_share, user: <owner>, args: {tablet: <own id>,
    phone?}}``; with config ``auto_share`` (on for the tablet) the device asks by itself when a
    Wi-Fi loss (``simulate.wifi``) takes it offline and it has no hotspot to fall back on. The
    orchestrator's ``network_share`` flow then sends the credentials on this device's
    ``cmd/network.join_hotspot`` (the only topic besides the phone's ``cmd`` that carries them).

Traffic
    ``traffic_mb_per_h`` is the data its apps move per hour through the uplink in use (0 while
    offline): ``call_mb_per_h`` during a call plus ``background_mb_per_h`` (browsing, sync; set
    with ``simulate.traffic``). A burst (``simulate.traffic {mb}``) is announced as
    ``event/traffic {mb, uplink}``. The device counts nothing itself: a hotspot's data is
    counted on the phone's modem, and in this emulator the radio link between them is the
    network_share flow, which relays the rate and the bursts to the phone.

Constants and where they come from:

- ``call_fps = 30``: the frame rate video-call apps usually capture and send at (the common
  default of WebRTC capture and of meeting apps); the own camera's lease asks for it.
- ``call_refresh_s = 2``: a design choice: state while in a call costs 0.5 messages/s against
  30 frames/s, and a dashboard's counters and ``last_frame_age_s`` are at most 2 s old.
- SSIDs and hotspot passwords: components/wifi.py and physics/radio.py, with their sources;
  known Wi-Fi beats a hotspot: components/uplink.py.
- ``call_mb_per_h = 1080``: Zoom's bandwidth requirement for 720p HD video, 1.2 Mbps up and
  1.2 Mbps down (support.zoom.com, "Zoom system requirements"): 2.4 Mbit/s x 3600 s / 8 = 1080 MB.
- ``auto_share`` on for the tablet, off for the laptop: HyperHome issue 5 ("the tablet away from
  home Wi-Fi gets online through the phone"); a laptop asks only when told to.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from hyperhome.broker.topics import ID_PATTERN, STREAM_PATTERN
from hyperhome.broker.wire import ONLINE, Frame, decode
from hyperhome.devices.base import Args, DeviceConfig, DeviceSpec, DeviceState, NoArgs, command
from hyperhome.devices.components import uplink
from hyperhome.devices.components.traffic import TrafficArgs
from hyperhome.devices.components.uplink import (
    JoinedHotspot,
    JoinHotspotArgs,
    LeaveArgs,
    RequestShareArgs,
    SimulateWifiArgs,
    Uplink,
    WifiState,
)
from hyperhome.devices.components.video import FrameWatch, VideoSource
from hyperhome.devices.components.wifi import Ssid
from hyperhome.devices.media import MediaSource, StreamStartArgs, StreamStopArgs
from hyperhome.errors import CommandError, ErrorCode

if TYPE_CHECKING:
    from hyperhome.broker.client import Message
    from hyperhome.broker.topics import Topics
    from hyperhome.devices.clock import Clock, TimerHandle

log = logging.getLogger(__name__)

FRONT = "front"


class CallingState(DeviceState):
    in_call: bool = False
    """A video call is running."""
    call_with: str | None = None
    """Whom the call is with, as given to call.start."""
    source: VideoSource | None = None
    """The stream the call shows (null when not in a call)."""
    frames_received: int = Field(0, ge=0)
    """Frames received from the current source since it was selected."""
    last_frame_seq: int | None = None
    """Sequence number of the last frame from the current source."""
    last_frame_age_s: float | None = None
    """Age of that frame when this state was published (refreshed every call_refresh_s in a call)."""
    blank: bool = False
    """No frame from the current source for more than 3 frame intervals: the picture is frozen or black."""
    wifi: WifiState = WifiState(ssid="home-5g", link="up")
    """The Wi-Fi network around the device (change it with simulate.wifi)."""
    uplink: Uplink = "wifi"
    """The path to the internet in use: a known Wi-Fi, a joined phone hotspot, or none (derived, not settable)."""
    online: bool = True
    """True exactly while there is a working uplink (derived, not settable)."""
    hotspot_host: str | None = None
    """The device providing the hotspot, while the uplink is a hotspot."""
    background_mb_per_h: float = Field(0.0, ge=0, le=100000)
    """Data its apps other than the call move per hour when online (browsing, sync; simulate.traffic)."""
    traffic_mb_per_h: float = Field(0.0, ge=0)
    """Data moved per hour through the uplink in use: the call's plus the background's, 0 offline (derived)."""


class CallingConfig(DeviceConfig):
    known_wifi: tuple[Ssid, ...] = ("home-5g",)
    """Wi-Fi networks joined automatically when in range."""
    call_fps: float = Field(30.0, gt=0, le=60)
    """Frame rate the call asks of its own camera, and assumes for a source before its first frame."""
    call_refresh_s: float = Field(2.0, gt=0)
    """How often state is republished (if changed) while in a call."""
    call_mb_per_h: float = Field(1080.0, ge=0)
    """Data a video call moves per hour, both ways (Zoom's 720p requirement)."""
    auto_share: bool = False
    """Ask for the owner's phone hotspot by itself when a Wi-Fi loss takes it offline."""
    share_phone: str | None = Field(None, pattern=ID_PATTERN)
    """The phone to ask for (default: the orchestrator picks one of the owner's phones)."""


class CallStartArgs(Args):
    with_: str | None = Field(None, alias="with", min_length=1, max_length=64)
    """Whom the call is with (a person or contact name)."""


class SetVideoSourceArgs(Args):
    device: str = Field(pattern=ID_PATTERN)
    """The device whose stream to show (this device's own id for its own camera)."""
    stream: str = Field(pattern=STREAM_PATTERN)
    """The stream of that device, e.g. rear."""


class CallingDevice(MediaSource):
    """A device with a video-call app and a Wi-Fi/hotspot uplink; see the module docstring."""

    State = CallingState
    Config = CallingConfig
    capabilities = ("video_call", "camera", "network")
    streams = (FRONT,)
    events: ClassVar[dict[str, str]] = {
        "video_source_changed": "the first frame of the newly shown source arrived: device, stream, first_frame_s",
        "online": "the device has a working uplink again: uplink",
        "offline": "the device lost its last working uplink: reason",
        "intent": "the device asks the orchestrator for something (network_share): intent, args, user",
        "traffic": "a burst of data went through the uplink: mb, uplink",
    }

    state: CallingState
    config: CallingConfig
    shadow = ("_hotspot", "_call_started", "_watching", "_own_lease")

    def __init__(self, spec: DeviceSpec, *, home: str, clock: Clock, topics: Topics | None = None) -> None:
        super().__init__(spec, home=home, clock=clock, topics=topics)
        self._watching: FrameWatch | None = None
        self._subscribed: str | None = None  # the stream topic subscribed to (follows _watching)
        self._own_lease: str | None = None
        self._call_started: float | None = None
        self._blank_timer: TimerHandle | None = None
        self._refresh_timer: TimerHandle | None = None
        self._hotspot: JoinedHotspot | None = None
        self._device_online: dict[str, bool] = {}
        self._reroute()

    async def on_start(self) -> None:
        await super().on_start()
        if self.state.in_call:
            source = self.state.source or self._own_camera()
            self.state.source = None
            self._call_started = self.clock.now()
            await self._watch(source)
            self._arm_refresh()
            await self.publish_state()

    def replan(self) -> None:
        """After a failed command: the watched stream's subscription and the call's timers follow the restored watch."""
        super().replan()
        wanted = self._watching.topic if self._watching is not None else None
        if wanted != self._subscribed:
            self.spawn(self._resubscribe(self._subscribed, wanted))
            self._subscribed = wanted
        for timer in (self._refresh_timer, self._blank_timer):
            if timer is not None:
                timer.cancel()
        self._refresh_timer = self._blank_timer = None
        self._arm_blank_timer()
        if self.state.in_call:
            self._arm_refresh()

    async def _resubscribe(self, old: str | None, new: str | None) -> None:
        assert self.bus is not None
        if new is not None:
            await self.bus.subscribe(new, self._on_frame, qos=0)
        if old is not None:
            await self.bus.unsubscribe(old)

    # -- state that depends on time --------------------------------------------------------------
    def advance(self, now: float, elapsed_s: float) -> None:
        self._sync_call_state()

    async def publish_state(self) -> None:
        self._sync_call_state()
        await super().publish_state()

    async def publish_state_if_changed(self) -> None:
        self._sync_call_state()
        await super().publish_state_if_changed()

    def _sync_call_state(self) -> None:
        """Copy the in-memory frame counters into state, with the last frame's age as of now; derive traffic."""
        w, s, now = self._watching, self.state, self.clock.now()
        demand = s.background_mb_per_h + (self.config.call_mb_per_h if s.in_call else 0.0)
        s.traffic_mb_per_h = demand if s.online else 0.0
        s.frames_received = w.frames if w else 0
        s.last_frame_seq = w.last_seq if w else None
        s.last_frame_age_s = w.age_s(now) if w else None
        s.blank = w is not None and w.blank(now)

    # -- video call ------------------------------------------------------------------------------
    @command("call.start", CallStartArgs)
    async def call_start(self, args: CallStartArgs) -> dict[str, Any]:
        """Start a video call (optionally saying with whom), showing this device's own front camera."""
        if self.state.in_call:
            msg = "already in a call; end it first (call.end)"
            raise CommandError(ErrorCode.REJECTED, msg)
        await self._watch(self._own_camera())
        self.state.in_call = True
        self.state.call_with = args.with_
        self._call_started = self.clock.now()
        self._arm_refresh()
        return {"source": self._own_camera().model_dump()}

    @command("call.end")
    async def call_end(self, args: NoArgs) -> dict[str, Any]:
        """Hang up: stop receiving video and release the own camera."""
        if not self.state.in_call:
            msg = "no call in progress"
            raise CommandError(ErrorCode.REJECTED, msg)
        await self._unwatch()
        for timer in (self._refresh_timer, self._blank_timer):
            if timer is not None:
                timer.cancel()
        self._refresh_timer = self._blank_timer = None
        started = self._call_started if self._call_started is not None else self.clock.now()
        self.state.in_call = False
        self.state.call_with = None
        self.state.source = None
        return {"duration_s": round(self.clock.now() - started, 3)}

    @command("call.set_video_source", SetVideoSourceArgs)
    async def call_set_video_source(self, args: SetVideoSourceArgs) -> dict[str, Any]:
        """Show another stream in the call: any device's stream, or this device's own (device = own id)."""
        if not self.state.in_call:
            msg = "no call in progress: start one with call.start"
            raise CommandError(ErrorCode.REJECTED, msg)
        if args.device == self.id and args.stream not in self.streams:
            msg = f"{self.id} has no stream {args.stream!r} (streams: {', '.join(self.streams)})"
            raise CommandError(ErrorCode.REJECTED, msg)
        source = VideoSource(device=args.device, stream=args.stream)
        changed = source != self.state.source
        if changed:
            await self._watch(source)
        return {
            "source": source.model_dump(),
            "topic": self.topics.stream(args.device, args.stream),
            "changed": changed,
        }

    def _own_camera(self) -> VideoSource:
        return VideoSource(device=self.id, stream=FRONT)

    async def _watch(self, source: VideoSource) -> None:
        """Receive ``source`` instead of the current one (subscribe first, so a failure changes nothing)."""
        assert self.bus is not None
        topic = self.topics.stream(source.device, source.stream)
        await self.bus.subscribe(topic, self._on_frame, qos=0)
        old, self._subscribed = self._watching, topic
        self._watching = FrameWatch.begin(source, topic, now=self.clock.now(), fps=self.config.call_fps)
        self.state.source = source
        if old is not None and old.topic != topic:
            await self.bus.unsubscribe(old.topic)
        if source == self._own_camera():
            await self._hold_own_camera()
        else:
            await self._release_own_camera()
        if self._blank_timer is not None:
            self._blank_timer.cancel()
            self._blank_timer = None
        self._arm_blank_timer()

    async def _unwatch(self) -> None:
        old, self._watching, self._subscribed = self._watching, None, None
        if old is not None and self.bus is not None:
            await self.bus.unsubscribe(old.topic)
        await self._release_own_camera()

    async def _hold_own_camera(self) -> None:
        if self._own_lease is None:
            start = StreamStartArgs(stream=FRONT, viewer=self.id, fps=self.config.call_fps)
            lease = await self.stream_start(start)
            assert lease is not None
            self._own_lease = str(lease["lease"])

    async def _release_own_camera(self) -> None:
        lease, self._own_lease = self._own_lease, None
        if lease is not None:
            try:
                await self.stream_stop(StreamStopArgs(lease=lease))
            except CommandError:
                log.debug("%s: own camera lease %s had already ended", self.id, lease)

    async def _on_frame(self, message: Message) -> None:
        """Count a frame of the shown source (quick: frames come at up to 60 per second)."""
        w = self._watching
        if w is None or message.topic != w.topic:
            return  # a frame of a source no longer shown, still in flight
        try:
            frame = decode(Frame, message.payload)
        except ValueError:  # ValidationError too
            log.debug("%s: ignoring a malformed frame on %s", self.id, message.topic)
            return
        now = self.clock.now()
        w.count(frame, now)
        self._arm_blank_timer()
        if w.frames == 1:
            await self.publish_state()
            await self.emit(
                "video_source_changed",
                device=w.source.device,
                stream=w.source.stream,
                first_frame_s=round(now - w.since, 3),
            )
        elif self.state.blank:
            await self.publish_state_if_changed()

    def _arm_blank_timer(self) -> None:
        """One timer at the moment the picture would go blank; frames only move the moment."""
        if self._blank_timer is None and self._watching is not None:
            self._blank_timer = self.at(self._watching.blank_at, self._on_blank_due)

    async def _on_blank_due(self) -> None:
        self._blank_timer = None
        w = self._watching
        if w is None:
            return
        if w.blank(self.clock.now()):
            await self.publish_state_if_changed()
        else:
            self._arm_blank_timer()

    def _arm_refresh(self) -> None:
        period = self.config.call_refresh_s
        when = (math.floor(self.clock.now() / period) + 1) * period
        self._refresh_timer = self.at(when, self._on_refresh)

    async def _on_refresh(self) -> None:
        self._refresh_timer = None
        if self.state.in_call:
            await self.publish_state_if_changed()
            self._arm_refresh()

    # -- network ---------------------------------------------------------------------------------
    @command("network.join_hotspot", JoinHotspotArgs)
    async def network_join_hotspot(self, args: JoinHotspotArgs) -> dict[str, Any]:
        """Join a phone's hotspot (used while no known Wi-Fi is up, and while its host is online)."""
        if args.host == self.id:
            msg = "a device cannot join its own hotspot"
            raise CommandError(ErrorCode.REJECTED, msg)
        if not self._device_online.get(args.host, False):
            msg = f"hotspot {args.ssid!r} is not on the air: its host {args.host} is not online"
            raise CommandError(ErrorCode.REJECTED, msg)
        self._hotspot = JoinedHotspot(args.ssid, args.host)
        await self._network_changed(reason="")
        return {"uplink": self.state.uplink, "online": self.state.online}

    @command("network.leave", LeaveArgs)
    async def network_leave(self, args: LeaveArgs) -> dict[str, Any]:
        """Leave and forget the joined hotspot (a known Wi-Fi in range takes over)."""
        if self._hotspot is None:
            msg = "not joined to any hotspot"
            raise CommandError(ErrorCode.REJECTED, msg)
        left, self._hotspot = self._hotspot, None
        await self._network_changed(reason=args.reason or f"left hotspot {left.ssid}")
        return {"uplink": self.state.uplink, "online": self.state.online}

    @command("network.request_share", RequestShareArgs)
    async def network_request_share(self, args: RequestShareArgs) -> dict[str, Any]:
        """Ask the orchestrator to get this device online through its owner's phone hotspot (event/intent)."""
        if self.state.online:
            s = self.state
            via = f"Wi-Fi {s.wifi.ssid}" if s.uplink == "wifi" else f"{s.hotspot_host}'s hotspot"
            msg = f"already online through {via}"
            raise CommandError(ErrorCode.REJECTED, msg)
        if self.spec.owner is None:
            msg = f"{self.id} has no owner: a phone shares its hotspot only with its owner's devices"
            raise CommandError(ErrorCode.REJECTED, msg)
        return await self._ask_for_share(args.phone or self.config.share_phone)

    async def _ask_for_share(self, phone: str | None) -> dict[str, Any]:
        await self.publish_state_if_changed()  # the orchestrator checks the intent against the state
        share_args = {"tablet": self.id} if phone is None else {"tablet": self.id, "phone": phone}
        await self.emit("intent", intent="network_share", args=share_args, user=self.spec.owner)
        return {"intent": "network_share", "args": share_args}

    @command("simulate.traffic", TrafficArgs)
    async def simulate_traffic(self, args: TrafficArgs) -> dict[str, Any]:
        """Test stimulus: the apps move data (a burst in MB now, and/or a steady background MB/h from now)."""
        if args.mb is not None and not self.state.online:
            msg = "offline: no data goes through"
            raise CommandError(ErrorCode.REJECTED, msg)
        if args.mb_per_h is not None:
            self.state.background_mb_per_h = args.mb_per_h
            self._sync_call_state()
        if args.mb is not None:
            await self.emit("traffic", mb=args.mb, uplink=self.state.uplink)
        return {"uplink": self.state.uplink, "traffic_mb_per_h": self.state.traffic_mb_per_h}

    @command("simulate.wifi", SimulateWifiArgs)
    async def simulate_wifi(self, args: SimulateWifiArgs) -> dict[str, Any]:
        """Test stimulus: a Wi-Fi network comes into range (up) or goes away (down)."""
        ssid = args.ssid if args.ssid is not None else self.state.wifi.ssid
        if ssid is None:
            msg = "no Wi-Fi network seen yet: give its ssid"
            raise CommandError(ErrorCode.REJECTED, msg)
        self.state.wifi = WifiState(ssid=ssid, link=args.link)
        gone = "out of range" if args.link == "down" else "is not a known network"
        was_online = self.state.online
        await self._network_changed(reason=f"Wi-Fi {ssid} {gone}")
        asks = was_online and not self.state.online and self.config.auto_share and self.spec.owner is not None
        if asks and self._hotspot is None:
            await self._ask_for_share(self.config.share_phone)
        return {"uplink": self.state.uplink, "online": self.state.online}

    async def on_device_availability(self, message: Message) -> None:
        ref = self.topics.parse(message.topic)
        if ref is None or ref.device == self.id:
            return
        online = message.payload == ONLINE.encode()
        if self._device_online.get(ref.device) == online:
            return
        self._device_online[ref.device] = online
        hotspot = self._hotspot
        if hotspot is not None and hotspot.host == ref.device:
            reason = f"hotspot {hotspot.ssid} gone: its host {hotspot.host} went offline"
            flipped = self._reroute()
            await self.publish_state_if_changed()
            if flipped:
                await self._announce_online(reason)

    async def _network_changed(self, reason: str) -> None:
        """Inside a command: choose the uplink; the base class publishes the state after it."""
        if self._reroute():
            await self._announce_online(reason)

    def _reroute(self) -> bool:
        """Apply the uplink rule (module docstring); True if ``online`` changed."""
        was_online, hotspot = self.state.online, self._hotspot
        path = uplink.choose(self.state.wifi, hotspot, known_wifi=self.config.known_wifi, online=self._device_online)
        self.state.uplink = path
        self.state.online = path != "none"
        self.state.hotspot_host = hotspot.host if path == "hotspot" and hotspot else None
        return self.state.online != was_online

    async def _announce_online(self, reason: str) -> None:
        if self.state.online:
            await self.emit("online", uplink=self.state.uplink)
        else:
            await self.emit("offline", reason=reason)

"""``network_share``: away from home Wi-Fi, the tablet gets online through its owner's phone.

"When working outside, the tablet gets online through the phone's modem." The tablet (or a
laptop) asks with ``event/intent {intent: network_share, args: {tablet, phone?}}`` (its
``network.request_share`` command, or by itself when it loses Wi-Fi), or a controller sends
``$orchestrator/cmd/network_share {tablet, phone?, user}``.

Who may
    ``user`` is required and must own both the tablet and the phone (``$meta.owner``):
    otherwise ``forbidden``. Without ``phone`` the user's phone that is online is used (the
    first by id). ``rejected`` when it cannot start now: a device offline, the tablet already
    sharing (naming the running flow: one share per tablet) or already online (known Wi-Fi, a
    hotspot), the phone's battery below
    ``STOP_BELOW_PCT``, no cellular service, or the phone's hotspot already on for other
    clients (its password is never published, so the orchestrator cannot hand it out, and
    restarting it would cut those clients off).

Credentials
    The orchestrator draws the WPA2 password with ``secrets`` (``radio.generate_password``) and
    sends it on exactly two topics, the phone's ``cmd/hotspot.start`` and the tablet's
    ``cmd/network.join_hotspot``, which no other device may read (access control). The phone
    does not echo a password it was given; the flow's status, steps, result and events never
    hold it.

Steps
    ``start_hotspot`` (``hotspot.start {password}``; a hotspot left on with no client but the
    tablet is restarted with new credentials; a hotspot another network_share flow runs on the
    same phone is shared: a laptop and a tablet on one phone) -> ``join``
    (``network.join_hotspot`` on the tablet, then ``hotspot.admit`` on the phone) -> ``share``
    (supervise; the tablet's ``traffic_mb_per_h`` and its ``traffic`` bursts are relayed to the
    phone's modem with ``simulate.traffic``, so the phone counts them: in this emulator the radio
    link between the two is this flow) -> ``stop``.

Ends ``succeeded`` with ``result.ended_because``:

- ``tablet_on_known_wifi``: the tablet's uplink is a known Wi-Fi again;
- ``phone_battery_low``: the phone's ``low_battery`` warning, or a published level below
  ``STOP_BELOW_PCT``: a notification on the phone, the hotspot stopped, the tablet offline;
- ``hotspot_stopped``: someone turned the hotspot off on the phone; ``tablet_offline``;
  ``tablet_left_hotspot`` (``network.leave`` on the tablet); ``supervision_ended`` (after
  ``MAX_SHARE_S``).

At the stop the tablet is released on the phone (``result.used_mb``: its data on the phone's
modem), the hotspot is stopped unless another share still uses it, and the tablet forgets the
hotspot (``network.leave``, with the reason for its ``offline`` event). ``failed`` when the phone
goes offline (the tablet is offline with it) or a step fails; ``cancelled`` by ``flow.cancel``.
Both clean up the same way, without waiting for replies.

Constants and where they come from:

- ``STOP_BELOW_PCT = 15``: HyperHome issue 5 ("the phone's battery falls below 15 %"), the
  same level as AOSP's ``config_lowBatteryWarningLevel``, the phone's own warning default.
- ``MAX_SHARE_S = 86400``: a bound on the supervision (a day), like the other flows'.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from pydantic import Field

from hyperhome.broker.topics import ID_PATTERN
from hyperhome.devices.physics import radio
from hyperhome.errors import CommandError, ErrorCode
from hyperhome.orchestrator.flows.base import DEFAULT_COMMAND_TIMEOUT_S, Flow, FlowArgs, FlowContext, FlowFailed
from hyperhome.orchestrator.registry import DeviceView, Registry

STOP_BELOW_PCT = 15.0
MAX_SHARE_S = 86_400.0


class NetworkShareArgs(FlowArgs):
    tablet: str = Field(pattern=ID_PATTERN)
    """The device that needs the internet (a tablet or a laptop: any device that can join a hotspot)."""
    phone: str | None = Field(None, pattern=ID_PATTERN)
    """The phone whose hotspot to use (default: the user's phone that is online, the first by id)."""


@dataclass
class _Hotspot:
    """A hotspot a network_share flow turned on; flows sharing one phone share this object."""

    phone: str
    password: str = field(repr=False)
    ssid: str | None = None
    error: str | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)


def _state(view: DeviceView | None) -> dict[str, Any]:
    return (view.state if view is not None else None) or {}


def _pick_phone(args: NetworkShareArgs, ctx: FlowContext) -> str:
    if args.phone is not None:
        return args.phone
    phones = sorted(
        view.id
        for view in ctx.registry.devices.values()
        if view.kind == "phone" and view.meta is not None and view.meta.owner == args.user and view.online
    )
    if not phones:
        msg = f"no phone of {args.user}'s is online"
        raise CommandError(ErrorCode.REJECTED, msg)
    return phones[0]


def _shares(ctx: FlowContext) -> list[NetworkShare]:
    return [f for f in ctx.flows.values() if isinstance(f, NetworkShare) and not f.ending]


def _hotspot_in_use(ctx: FlowContext, phone: str, *, but: NetworkShare | None = None) -> _Hotspot | None:
    """The hotspot another running share holds on ``phone``, if any."""
    for flow in _shares(ctx):
        if flow is not but and flow.phone == phone and flow.hotspot is not None and flow.hotspot.error is None:
            return flow.hotspot
    return None


class NetworkShare(Flow[NetworkShareArgs]):
    kind = "network_share"
    Args = NetworkShareArgs

    def __init__(self, ctx: FlowContext, flow_id: str, args: NetworkShareArgs) -> None:
        super().__init__(ctx, flow_id, args)
        self.phone = _pick_phone(args, ctx)
        self.tablet = args.tablet
        self.hotspot: _Hotspot | None = None
        self.ending = False
        self._started_hotspot = False
        self._joined = False
        self._admitted = False
        self._relayed_mb_per_h = 0.0
        self._bursts: list[float] = []
        self._low_battery_pct: float | None = None
        self._used_mb: float | None = None
        self._problems: list[str] = []

    # -- who may, and whether it can start -------------------------------------------------------
    @classmethod
    def check(cls, args: NetworkShareArgs, ctx: FlowContext) -> None:
        user = args.user
        if user is None:
            msg = "say who asks (user): a phone shares its hotspot only with its owner's devices"
            raise CommandError(ErrorCode.FORBIDDEN, msg)
        tablet = ctx.view(args.tablet)
        if tablet is None or tablet.meta is None or "network" not in tablet.meta.capabilities:
            msg = f"{args.tablet} is not a device that can join a hotspot"
            raise CommandError(ErrorCode.REJECTED, msg)
        if tablet.meta.owner != user:
            msg = f"{args.tablet} is not {user}'s (its owner: {tablet.meta.owner or 'nobody'})"
            raise CommandError(ErrorCode.FORBIDDEN, msg)
        phone_id = _pick_phone(args, ctx)
        phone = ctx.view(phone_id)
        if phone is None or phone.meta is None or phone.kind != "phone":
            msg = f"{phone_id} is not a phone"
            raise CommandError(ErrorCode.REJECTED, msg)
        if phone.meta.owner != user:
            msg = f"{phone_id} is not {user}'s: a phone shares its hotspot only with its owner's devices"
            raise CommandError(ErrorCode.FORBIDDEN, msg)
        for view in (tablet, phone):
            if not view.online:
                msg = f"{view.id} is offline"
                raise CommandError(ErrorCode.REJECTED, msg)
        cls._check_now(args.tablet, _state(tablet), phone_id, _state(phone), ctx)

    @classmethod
    def _check_now(
        cls, tablet: str, tablet_state: dict[str, Any], phone: str, phone_state: dict[str, Any], ctx: FlowContext
    ) -> None:
        refusal: str | None = None
        battery = phone_state.get("battery_pct")
        hotspot = phone_state.get("hotspot") or {}
        others = [c.get("id") for c in hotspot.get("clients") or [] if c.get("id") != tablet]
        sharing = [f for f in _shares(ctx) if f.tablet == tablet]
        if sharing:
            refusal = f"{tablet} already shares {sharing[0].phone}'s connection (network_share {sharing[0].id})"
        elif tablet_state.get("uplink") == "wifi":
            refusal = f"{tablet} is online through Wi-Fi {(tablet_state.get('wifi') or {}).get('ssid')}"
        elif tablet_state.get("uplink") == "hotspot":
            refusal = f"{tablet} is already online through {tablet_state.get('hotspot_host')}'s hotspot"
        elif isinstance(battery, int | float) and battery < STOP_BELOW_PCT:
            refusal = f"{phone}'s battery is at {battery:g} %, below {STOP_BELOW_PCT:g} %"
        elif "signal_dbm" in phone_state and phone_state["signal_dbm"] is None:
            refusal = f"{phone} has no cellular service"
        elif hotspot.get("on") and others and _hotspot_in_use(ctx, phone) is None:
            refusal = (
                f"{phone}'s hotspot is already on for {', '.join(map(str, others))}: its password is not "
                "known to the orchestrator, and restarting it would cut them off"
            )
        if refusal is not None:
            raise CommandError(ErrorCode.REJECTED, refusal)

    # -- the flow ------------------------------------------------------------------------------
    async def run(self) -> dict[str, Any] | None:
        self._cleanups.append(self.ctx.listen(self._on_device_event))
        async with self.abort_when(self._phone_gone):
            await self._start_hotspot()
            await self._join()
            because = await self._share()
            return await self._stop(because)

    def _phone_gone(self, registry: Registry) -> str | None:
        view = registry.get(self.phone)
        if view is not None and view.online:
            return None
        if self._joined:
            return f"{self.phone} went offline: {self.tablet} lost its connection through the hotspot"
        return f"{self.phone} went offline"

    def _on_device_event(self, device: str, name: str, payload: dict[str, Any]) -> None:
        if device == self.tablet and name == "traffic" and payload.get("uplink") == "hotspot":
            mb = payload.get("mb")
            if isinstance(mb, int | float) and mb > 0:
                self._bursts.append(float(mb))
                self.wake()
        elif device == self.phone and name == "low_battery":
            level = payload.get("battery_pct")
            self._low_battery_pct = float(level) if isinstance(level, int | float) else STOP_BELOW_PCT
            self.wake()
        elif device == self.phone and name == "hotspot_client_left" and payload.get("client") == self.tablet:
            self._record_used(payload.get("used_mb"))
        elif device == self.phone and name == "hotspot_stopped":
            self._record_used((payload.get("used_mb") or {}).get(self.tablet))

    def _record_used(self, used_mb: Any) -> None:
        if isinstance(used_mb, int | float):
            self._used_mb = float(used_mb)

    async def _start_hotspot(self) -> None:
        async with self.step("start_hotspot", phone=self.phone) as step:
            shared = _hotspot_in_use(self.ctx, self.phone, but=self)
            if shared is not None:
                self.hotspot = shared
                step.detail["shared"] = True
                await self.within(shared.ready.wait(), timeout_s=2 * DEFAULT_COMMAND_TIMEOUT_S, what="the hotspot")
                if shared.ssid is None:
                    self.fail(f"{self.phone}'s hotspot did not start: {shared.error}")
            else:
                step.detail["restarted"] = await self._turn_on()
            assert self.hotspot is not None
            step.detail["ssid"] = self.hotspot.ssid

    async def _turn_on(self) -> bool:
        """Start the phone's hotspot with fresh credentials; True if it had to be restarted first."""
        hotspot = self.hotspot = _Hotspot(self.phone, radio.generate_password())
        restart = bool((_state(self.registry.get(self.phone)).get("hotspot") or {}).get("on"))
        try:
            if restart:
                await self.command(self.phone, "hotspot.stop")
            self._started_hotspot = True
            reply = await self.command(self.phone, "hotspot.start", {"password": hotspot.password})
            hotspot.ssid = str(reply["ssid"])
        except FlowFailed as exc:
            hotspot.error = exc.reason
            raise
        finally:
            if hotspot.ssid is None and hotspot.error is None:
                hotspot.error = "the flow starting it ended"
            hotspot.ready.set()
        return restart

    async def _join(self) -> None:
        hotspot = self.hotspot
        assert hotspot is not None
        assert hotspot.ssid is not None
        async with self.step("join", tablet=self.tablet, ssid=hotspot.ssid) as step:
            credentials = {"ssid": hotspot.ssid, "password": hotspot.password, "host": self.phone}
            joined = await self.command(self.tablet, "network.join_hotspot", credentials)
            self._joined = True
            step.detail["uplink"] = joined.get("uplink")
            await self.command(self.phone, "hotspot.admit", {"client": self.tablet})
            self._admitted = True
        await self.set_result(phone=self.phone, ssid=hotspot.ssid)

    async def _share(self) -> str:
        async with self.step("share", ssid=self.hotspot.ssid if self.hotspot else None):
            deadline = self.clock.now() + MAX_SHARE_S
            while (because := self._ended_because(self.registry)) is None:
                await self._relay_traffic()
                try:
                    await self.wait_until(self._news, timeout_s=deadline - self.clock.now(), what="the share to end")
                except FlowFailed:
                    return "supervision_ended"
            return because

    def _ended_because(self, registry: Registry) -> str | None:
        tablet, phone = registry.get(self.tablet), registry.get(self.phone)
        tablet_state, phone_state = _state(tablet), _state(phone)
        battery = phone_state.get("battery_pct")
        if tablet_state.get("uplink") == "wifi":
            return "tablet_on_known_wifi"
        if self._low_battery_pct is not None or (isinstance(battery, int | float) and battery < STOP_BELOW_PCT):
            return "phone_battery_low"
        if tablet is None or not tablet.online:
            return "tablet_offline"
        if not (phone_state.get("hotspot") or {}).get("on"):
            return "hotspot_stopped"
        if tablet_state.get("uplink") != "hotspot" or tablet_state.get("hotspot_host") != self.phone:
            return "tablet_left_hotspot"
        return None

    def _tablet_mb_per_h(self, registry: Registry) -> float:
        state = _state(registry.get(self.tablet))
        rate = state.get("traffic_mb_per_h")
        on_hotspot = state.get("uplink") == "hotspot" and state.get("hotspot_host") == self.phone
        return float(rate) if on_hotspot and isinstance(rate, int | float) else 0.0

    def _news(self, registry: Registry) -> bool:
        changed_rate = self._tablet_mb_per_h(registry) != self._relayed_mb_per_h
        return self._ended_because(registry) is not None or changed_rate or bool(self._bursts)

    async def _relay_traffic(self) -> None:
        """What the tablet moves goes through the phone's modem: tell the phone (its counters are the record)."""
        rate = self._tablet_mb_per_h(self.registry)
        if rate != self._relayed_mb_per_h:
            self._relayed_mb_per_h = rate
            await self.tell(self.phone, "simulate.traffic", {"client": self.tablet, "mb_per_h": rate})
        bursts, self._bursts = self._bursts, []
        for mb in bursts:
            await self.tell(self.phone, "simulate.traffic", {"client": self.tablet, "mb": mb})

    # -- the end -------------------------------------------------------------------------------
    async def _stop(self, because: str) -> dict[str, Any]:
        self.ending = True
        async with self.step("stop", because=because) as step:
            battery = _state(self.registry.get(self.phone)).get("battery_pct")
            if because == "phone_battery_low":
                await self._best_effort(self.phone, "notify", self._battery_notice(battery))
            await self._release()
            if because != "hotspot_stopped" and _hotspot_in_use(self.ctx, self.phone, but=self) is None:
                await self._best_effort(self.phone, "hotspot.stop")
            if because == "tablet_offline":
                await self.deliver(self.tablet, "network.leave", {"reason": self._leave_reason(because, battery)})
            elif because != "tablet_left_hotspot":
                await self._best_effort(self.tablet, "network.leave", {"reason": self._leave_reason(because, battery)})
            if self._problems:
                step.detail["problems"] = list(self._problems)
        return {"ended_because": because, "used_mb": self._used_mb, "phone_battery_pct": battery}

    async def _release(self) -> None:
        clients = (_state(self.registry.get(self.phone)).get("hotspot") or {}).get("clients") or []
        if self._admitted and any(c.get("id") == self.tablet for c in clients):
            released = await self._best_effort(self.phone, "hotspot.release", {"client": self.tablet})
            self._record_used((released or {}).get("used_mb"))
        self._admitted = False

    async def _best_effort(self, device: str, command: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
        """Tidying up at the end: a refusal is noted in the stop step, not a failure of the share."""
        try:
            return await self.command(device, command, args)
        except FlowFailed as exc:
            self._problems.append(exc.reason)
            return {}

    def _battery_notice(self, battery: Any) -> dict[str, Any]:
        level = self._low_battery_pct if self._low_battery_pct is not None else battery
        view = self.registry.get(self.tablet)
        name = view.meta.name if view is not None and view.meta is not None else self.tablet
        body = f"Battery at {level} %: {name} is no longer online through this phone."
        return {"title": "Hotspot turned off", "body": body, "app": "hotspot"}

    def _leave_reason(self, because: str, battery: Any) -> str:
        """The reason the tablet gives in its ``offline`` event."""
        ssid = self.hotspot.ssid if self.hotspot is not None else None
        if because == "phone_battery_low":
            level = self._low_battery_pct if self._low_battery_pct is not None else battery
            return f"hotspot {ssid} stopped: the phone's battery is low ({level} %)"
        if because == "hotspot_stopped":
            return f"hotspot {ssid} was turned off on the phone"
        if because == "supervision_ended":
            return f"hotspot {ssid} stopped after {MAX_SHARE_S / 3600:g} h of sharing"
        return f"left hotspot {ssid}"

    async def cleanup(self) -> None:
        """After a failure or a cancel: nothing the flow set up stays behind (no waiting for replies)."""
        self.ending = True
        if self._admitted:
            await self.deliver(self.phone, "hotspot.release", {"client": self.tablet})
        ours = self._started_hotspot or (self.hotspot is not None and self.hotspot.ssid is not None)
        if ours and _hotspot_in_use(self.ctx, self.phone, but=self) is None:
            await self.deliver(self.phone, "hotspot.stop")
        if self._joined:
            why = self.cancel_reason or "the network share failed"
            ssid = self.hotspot.ssid if self.hotspot is not None else None
            await self.deliver(self.tablet, "network.leave", {"reason": f"hotspot {ssid} stopped: {why}"})

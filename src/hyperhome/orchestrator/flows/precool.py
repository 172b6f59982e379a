"""``precool``: "before coming home, one tap on the phone turns on the AC, so it is cool when you arrive".

The flow plans when to start the air conditioner from the AC's own model so that the room
reaches ``target_c`` at the arrival time, no earlier: the start ``s`` solves
``s + estimate(at=s) = arrival``, where ``estimate`` is the AC's ``estimate`` command (minutes to
the target if started at ``s``, counting the room's drift until then). A few fixed-point steps
converge to the second. Arrival comes from:

- ``arrive_at``: a time;
- ``car``: the car's trip (its ``eta``); the plan is redone on every ``eta_changed``, and the flow
  stops (switching the AC off if it had started it) when the trip is cancelled;
- ``start_now``: start at once (only when asked for).

With none of them (a tap on the phone), the user's own car is used when it is on a trip, else the
request is rejected. Only residents may pre-cool (``user`` is required). At arrival the flow reads
the room from the AC and succeeds when it is within 0.5 °C of the target.

One plan per AC. A second precool for an AC a running one holds is ``rejected``, naming the
running flow, when it asks for the same plan (target, and arrival by the same time, car or
``start_now``: the dashboard and a phone tap for one trip) or comes from another user (one
resident does not drop another's plan); the same user's new plan replaces the running one, which
ends ``cancelled`` (``replaced by f-2``); an AC it had started stays on for the new plan.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import AwareDatetime, Field, model_validator

from hyperhome.broker.topics import ID_PATTERN
from hyperhome.devices.clock import iso, parse_time
from hyperhome.errors import CommandError, ErrorCode
from hyperhome.orchestrator.flows.base import DEFAULT_COMMAND_TIMEOUT_S, Flow, FlowArgs, FlowContext

TOLERANCE_C = 0.5
PLAN_ITERATIONS = 8
MAX_TRIP_S = 12 * 3600.0
"""Bound on waiting for a car's arrival (a day's drive is not a commute)."""


class PrecoolArgs(FlowArgs):
    target_c: float = Field(24.0, ge=16, le=30)
    """The temperature the room should have at arrival."""
    ac: str | None = Field(None, pattern=ID_PATTERN)
    """The air conditioner (default: the one in the living room, else the first one)."""
    arrive_at: AwareDatetime | None = None
    """Arrival time."""
    car: str | None = Field(None, pattern=ID_PATTERN)
    """Plan with this car's trip (re-planned when its ETA changes)."""
    start_now: bool = False
    """Start at once instead of planning."""

    @model_validator(mode="after")
    def _one_way(self) -> PrecoolArgs:
        given = [self.arrive_at is not None, self.car is not None, self.start_now]
        if sum(given) > 1:
            msg = "give only one of arrive_at, car, start_now"
            raise ValueError(msg)
        return self


def _pick_ac(args: PrecoolArgs, ctx: FlowContext) -> str:
    if args.ac is not None:
        return args.ac
    acs = sorted((v for v in ctx.registry.devices.values() if v.kind == "air_conditioner"), key=lambda v: v.id)
    living = [v for v in acs if v.meta is not None and v.meta.room == "living"]
    if not acs:
        msg = "this home has no air conditioner"
        raise CommandError(ErrorCode.REJECTED, msg)
    return (living or acs)[0].id


def _pick_car(args: PrecoolArgs, ctx: FlowContext) -> str | None:
    """The car to plan with: the one given, or the user's own car on a trip (for a bare tap)."""
    if args.car is not None or args.arrive_at is not None or args.start_now:
        return args.car
    for view in ctx.registry.devices.values():
        owned = view.meta is not None and view.meta.owner == args.user
        if view.kind == "car" and owned and (view.state or {}).get("gear") == "drive":
            return view.id
    msg = "no arrival time: give arrive_at, car or start_now (or be on the way home by car)"
    raise CommandError(ErrorCode.REJECTED, msg)


_Plan = tuple[float, float | None, str | None, bool]
"""What makes two pre-cools the same: target, arrival time, car, start now."""


def _plan_of(args: PrecoolArgs, car: str | None) -> _Plan:
    arrival = args.arrive_at.timestamp() if args.arrive_at is not None else None
    return (args.target_c, arrival, car, args.start_now)


def _describe(plan: _Plan) -> str:
    _, arrival, car, start_now = plan
    if start_now:
        return "now (start_now)"
    if car is not None:
        return f"{car}'s arrival"
    assert arrival is not None
    return f"an arrival at {iso(arrival)}"


class Precool(Flow[PrecoolArgs]):
    kind = "precool"
    Args = PrecoolArgs

    def __init__(self, ctx: FlowContext, flow_id: str, args: PrecoolArgs) -> None:
        super().__init__(ctx, flow_id, args)
        self.ac = _pick_ac(args, ctx)
        self.car = _pick_car(args, ctx)
        self.plan = _plan_of(args, self.car)
        self._ac_started = False
        self._news = asyncio.Event()
        self._trip: str | None = None  # "eta_changed", "trip_cancelled", "arrived"
        self._eta: str | None = None  # the newest ETA the car announced (its event comes before its state)

    @classmethod
    def check(cls, args: PrecoolArgs, ctx: FlowContext) -> None:
        if args.user is None:
            msg = "say who asks (user): only the home's residents may pre-cool it"
            raise CommandError(ErrorCode.FORBIDDEN, msg)
        ac = ctx.view(_pick_ac(args, ctx))
        if ac is None or ac.kind != "air_conditioner":
            msg = f"{args.ac} is not an air conditioner"
            raise CommandError(ErrorCode.REJECTED, msg)
        if not ac.online:
            msg = f"{ac.id} is offline"
            raise CommandError(ErrorCode.REJECTED, msg)
        car_id = _pick_car(args, ctx)
        if car_id is not None:
            car = ctx.view(car_id)
            if car is None or car.kind != "car":
                msg = f"{car_id} is not a car"
                raise CommandError(ErrorCode.REJECTED, msg)
            if (car.state or {}).get("gear") != "drive" or not (car.state or {}).get("eta"):
                msg = f"{car_id} is not on a trip"
                raise CommandError(ErrorCode.REJECTED, msg)
        if args.arrive_at is not None and args.arrive_at.timestamp() <= ctx.clock.now():
            msg = "arrive_at is in the past"
            raise CommandError(ErrorCode.REJECTED, msg)
        cls._one_plan_per_ac(ac.id, _plan_of(args, car_id), args.user, ctx)

    @classmethod
    def _one_plan_per_ac(cls, ac: str, plan: _Plan, user: str | None, ctx: FlowContext) -> None:
        """Refuse a second plan for ``ac`` unless it is a new plan of the same user (then it replaces)."""
        for flow in ctx.running(Precool):
            if flow.ac != ac:
                continue
            if flow.plan == plan:
                msg = f"precool {flow.id} already pre-cools {ac} to {flow.args.target_c:g} °C for {_describe(plan)}"
                raise CommandError(ErrorCode.REJECTED, msg)
            if flow.user != user:
                msg = (
                    f"precool {flow.id} pre-cools {ac} for {flow.user}'s arrival; "
                    f"cancel it first (flow.cancel {flow.id}) to plan another"
                )
                raise CommandError(ErrorCode.REJECTED, msg)

    # -- the flow ------------------------------------------------------------------------------
    async def run(self) -> dict[str, Any] | None:
        self._replace_older()
        if self.car is not None:
            self.ctx_listen_car()
        async with self.abort_if_offline(self.ac):
            if self.args.start_now:
                return await self._start_now()
            arrival = self._arrival()
            while True:
                start = await self._plan(arrival)
                await self.set_result(planned_start=self.clock.iso(start), arrival=self.clock.iso(arrival))
                if not await self._wait(start):
                    break  # the start time came
                arrival = self._on_trip_news(arrival)
            await self._start_ac(arrival)
            await self._until_arrival(arrival)
            return await self._at_arrival()

    def _replace_older(self) -> None:
        """This plan replaces the one running for the same AC (``check`` let only its user's through)."""
        if self.replaced_by is not None:
            return
        for flow in self.ctx.running(Precool, before=self):
            if flow.ac == self.ac:
                self._ac_started = self._ac_started or flow._ac_started
                flow._ac_started = False  # the AC is this flow's now: the old one's clean-up leaves it on
                flow.replace(self)

    def ctx_listen_car(self) -> None:
        car = self.car

        def listener(device: str, event: str, payload: dict[str, Any]) -> None:
            if device == car and event in ("eta_changed", "trip_cancelled", "arrived"):
                self._trip = event
                if event == "eta_changed" and payload.get("eta"):
                    self._eta = str(payload["eta"])
                self._news.set()

        self._cleanups.append(self.ctx.listen(listener))

    def _arrival(self) -> float:
        if self.args.arrive_at is not None:
            return self.args.arrive_at.timestamp()
        assert self.car is not None
        view = self.registry.get(self.car)
        eta = self._eta or ((view.state or {}).get("eta") if view is not None else None)
        if not eta:
            self.fail(f"{self.car} has no ETA any more")
        return parse_time(str(eta))

    def _on_trip_news(self, arrival: float) -> float:
        """React to the car's news before the start: a new ETA re-plans, a cancelled trip ends."""
        news, self._trip = self._trip, None
        self._news.clear()
        if news == "trip_cancelled":
            self.fail("the trip was cancelled before the AC had to start; it was not started")
        if news == "arrived":
            return self.clock.now()
        return self._arrival()

    async def _estimate_min(self, at: float | None) -> float:
        args: dict[str, Any] = {"target_c": self.args.target_c, "mode": "cool"}
        if at is not None:
            args["at"] = self.clock.iso(at)
        result = await self.command(self.ac, "estimate", args)
        if result.get("minutes") is None:
            self.fail(f"{self.ac} cannot bring the room to {self.args.target_c} °C (too weak for the heat outside)")
        return float(result["minutes"])

    async def _plan(self, arrival: float) -> float:
        """The start time: a fixed point of ``start = arrival - estimate(at=start)``."""
        async with self.step("plan", arrival=self.clock.iso(arrival)) as step:
            now = self.clock.now()
            start = arrival - await self._estimate_min(None) * 60
            for _ in range(PLAN_ITERATIONS):
                if start <= now:
                    start = now
                    break
                later = arrival - await self._estimate_min(start) * 60
                converged = abs(later - start) < 1.0
                start = later
                if converged:
                    break
            start = max(start, now)
            step.detail.update(start=self.clock.iso(start), minutes=round((arrival - start) / 60, 1))
        return start

    async def _wait(self, until: float) -> bool:
        """Wait for ``until`` or news of the trip; True if news came first."""
        if self._news.is_set():
            return True
        if until <= self.clock.now():
            return False
        try:
            async with self.clock.timeout(until - self.clock.now(), drive=False):
                await self._news.wait()
        except TimeoutError:
            return False
        return True

    async def _start_ac(self, arrival: float | None = None) -> None:
        """Switch the AC on; until ``arrival`` it is worth trying (a broker outage at the planned
        start delays it by the outage, which costs a fraction of a degree, not the plan)."""
        timeout_s = DEFAULT_COMMAND_TIMEOUT_S
        if arrival is not None:
            timeout_s = max(timeout_s, arrival - self.clock.now())
        async with self.step("start_ac", target_c=self.args.target_c):
            settings = {"power": True, "mode": "cool", "target_c": self.args.target_c}
            await self.command(self.ac, "set", settings, timeout_s=timeout_s)
            self._ac_started = True
        await self.set_result(started_at=self.clock.iso())

    async def _start_now(self) -> dict[str, Any]:
        await self._start_ac()
        minutes = await self._estimate_min(None)
        async with self.step("cool_down", minutes=minutes):
            await self.sleep(minutes * 60)
        return await self._at_arrival(arrival=self.clock.now())

    async def _until_arrival(self, arrival: float) -> None:
        async with self.step("await_arrival", arrival=self.clock.iso(arrival)):
            if self.car is None:
                await self.sleep(max(0.0, arrival - self.clock.now()))
                return
            deadline = self.clock.now() + MAX_TRIP_S
            while self._trip != "arrived":
                if not await self._wait(deadline):
                    self.fail(f"{self.car} did not arrive within {MAX_TRIP_S / 3600:g} h")
                if self._trip == "trip_cancelled":
                    self.fail("the trip was cancelled; the AC was switched off again")
                if self._trip == "eta_changed":
                    self._trip = None
                    self._news.clear()

    async def _at_arrival(self, arrival: float | None = None) -> dict[str, Any]:
        reading = await self.command(self.ac, "estimate", {"target_c": self.args.target_c, "mode": "cool"})
        room = float(reading["room_temp_c"])
        result: dict[str, Any] = {"room_temp_c_at_arrival": room, "target_c": self.args.target_c}
        if arrival is not None:
            result["arrival"] = self.clock.iso(arrival)
        await self.set_result(**result)
        if abs(room - self.args.target_c) > TOLERANCE_C:
            self.fail(f"the room was {room} °C at arrival, not within {TOLERANCE_C} °C of {self.args.target_c} °C")
        return result

    async def cleanup(self) -> None:
        """A failed or cancelled pre-cool leaves nothing running that it started."""
        if self._ac_started:
            await self.deliver(self.ac, "power", {"on": False})

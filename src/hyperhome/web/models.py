"""Request and response bodies of the web API (pydantic), so OpenAPI at ``/docs`` shows them all.

What comes from the broker (``$meta``, state, flow statuses, replies) is validated with the wire
models of ``broker/wire.py`` or the loose models here; what comes from a browser or an HTTP
client (command args, flow args, run requests, WebSocket control messages) is validated here
before anything is published.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from hyperhome.broker.wire import FlowStatus as FlowStatus  # the wire's, a body of the API too
from hyperhome.broker.wire import FlowStep as FlowStep
from hyperhome.broker.wire import Meta, Reply


class ErrorBody(BaseModel):
    """Every error the API answers with (besides FastAPI's own 422 for a malformed request)."""

    detail: str = Field(description="What went wrong, in a sentence.")
    code: str = Field(
        description="unknown_device, unknown_flow, unknown_scenario, unknown_run, offline, timeout, "
        "not_connected, busy, or the device's wire error code (invalid_args, rejected, ...)."
    )
    reply: Reply | None = Field(None, description="The device's or orchestrator's reply, when there was one.")


class ClockOut(BaseModel):
    mode: str = Field(description="realtime, scaled, virtual or manual.")
    speed: float | None = Field(description="Simulated seconds per wall second (null in virtual time).")
    now: str = Field(description="Simulated time now (ISO 8601, UTC).")


class AdvanceOut(BaseModel):
    now: str = Field(description="Simulated time after the advance (ISO 8601, UTC).")
    steps: int = Field(description="Timer steps it took, each followed by a quiet home.")


class HomeOut(BaseModel):
    home: str
    name: str
    root: str
    bus: Literal["connected", "disconnected"] = Field(
        description="The API's own MQTT connection; while it is down nothing here is live."
    )
    orchestrator: str | None = Field(
        description="The orchestrator's $availability (online, offline, or null: never seen, or unknown "
        "while the API's connection is down)."
    )
    clock: ClockOut | None
    scenarios: bool = Field(description="Whether this server runs scenarios (POST /api/scenarios/{name}/runs).")


class HealthOut(BaseModel):
    """``GET /api/health``: 200 with ``ok`` while the API's MQTT connection is up, else 503."""

    status: Literal["ok", "unavailable"]
    bus: Literal["connected", "disconnected"]
    detail: str | None = None


class DeviceOut(BaseModel):
    """One device as the broker's retained messages describe it."""

    id: str
    name: str | None
    kind: str | None
    room: str | None
    owner: str | None
    availability: str | None = Field(description="online, offline, or null before the device ever announced.")
    online: bool | None = Field(
        description="Whether the device is online; null while the API's own MQTT connection is down (unknown)."
    )
    meta: Meta | None
    state: dict[str, Any] | None


class FlowStarted(BaseModel):
    flow_id: str | None = Field(description="The new flow's id (null for an orchestrator command that is not a flow).")
    reply: Reply
    status: FlowStatus | None = Field(description="The flow's first status, once the orchestrator published it.")


class ScenarioOut(BaseModel):
    name: str
    title: str
    article: str
    requires_flows: list[str]
    steps: int


class RunRequest(BaseModel):
    """Body of ``POST /api/scenarios/{name}/runs`` (optional)."""

    model_config = ConfigDict(extra="forbid")

    broker: Literal["embedded", "mosquitto"] = Field(
        "embedded", description="The broker of the run's own, isolated home."
    )


class TimelineEntry(BaseModel):
    t: float = Field(description="Simulated seconds since the scenario started.")
    device: str
    kind: str
    name: str
    data: Any
    text: str = Field(description="The entry in one short line, as the CLI's timeline shows it.")


class StepOut(BaseModel):
    step: int
    title: str
    action: str
    status: str
    t: float
    expected: str = ""
    seen: str = ""
    message: str = ""


RunStatus = Literal["queued", "running", "passed", "failed", "skipped", "error"]


class RunOut(BaseModel):
    """A scenario run in its own home (own broker, virtual time): progress, timeline, result."""

    id: str
    scenario: str
    title: str
    broker: str
    status: RunStatus
    step: int = Field(0, description="Steps started so far.")
    steps: int
    step_title: str | None = None
    sim_t: float = Field(0.0, description="Simulated seconds since the scenario started, at the latest entry.")
    timeline: list[TimelineEntry] = Field(default_factory=list, description="The latest entries, oldest first.")
    dropped: int = Field(0, description="Older timeline entries left out to keep the response small.")
    outcomes: list[StepOut] = Field(default_factory=list)
    result: dict[str, Any] | None = Field(None, description="The scenario's result (as `hyperhome run --json`).")
    error: str | None = Field(None, description="Why the run could not run (not a failed expectation).")
    created: str
    started: str | None = None
    ended: str | None = None


class WsControl(BaseModel):
    """What a WebSocket client may send: topic filters to add or remove."""

    model_config = ConfigDict(extra="forbid")

    subscribe: list[str] = Field(default_factory=list, max_length=32)
    unsubscribe: list[str] = Field(default_factory=list, max_length=32)

"""The takeover matrix: every way an outsider could take a client id, tried on a running home.

A client id belongs to its login (``broker/identity.py``). This tries the whole matrix from
outside, with plain aiomqtt clients, on one broker (embedded or managed Mosquitto) that serves
two homes: the demo home, running in real time with a camera handoff under way, and a second
home whose camera login attacks across homes.

Each attempt connects with a victim's client id (``{home}.{device}`` or ``{home}.$orchestrator``)
as one of the ``ATTACKERS``:

- ``other-home-device``: the camera of the other home on the same broker;
- ``same-home-device``: the door camera's valid login (the door lock's when the camera is the victim);
- ``controller``: the demo home's controller login (the one a user's tools use);
- ``wrong-password``: the victim's own username with a wrong password;
- ``anonymous``: no login at all;

once with a persistent session (``clean_session=False``, which would be handed the victim's
session) and once with a clean one. After every attempt the victim must still answer a command
(which also proves its ``cmd/#`` subscription still delivers). Over the whole run no
``$availability`` offline notice may be published and the camera handoff must still be
running. A CONNECT the broker accepts is kept open for ``LEAK_WINDOW_S`` and every message it
receives counts as leaked.

```python
figures = await takeover_matrix("mosquitto", size=1)    # 100 attempts; the bench runs more
assert figures.victims_affected == 0 and figures.messages_leaked == 0
```
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiomqtt

from hyperhome.bench.report import Progress, quiet
from hyperhome.broker.credentials import ClientLogins, FileLogin, HomeCredentials, Login, client_id_of
from hyperhome.broker.launch import BrokerChoice, open_broker
from hyperhome.broker.topics import ORCHESTRATOR, Topics
from hyperhome.broker.wire import OFFLINE, FlowState, FlowStatus
from hyperhome.errors import ConfigError
from hyperhome.home.homefile import load_home
from hyperhome.home.runtime import Home
from hyperhome.orchestrator.controller import ended

if TYPE_CHECKING:
    from hyperhome.broker.client import Message
    from hyperhome.orchestrator.controller import Controller

__all__ = ["ATTACKERS", "SESSIONS", "TakeoverFigures", "takeover_matrix"]

# valid logins with persistent sessions first: before the fix, they were handed a live session
ATTACKERS = ("other-home-device", "same-home-device", "controller", "wrong-password", "anonymous")
SESSIONS = ("persistent", "clean")
OTHER_HOME = "next-door"
ATTACKING_CAMERA, SPARE_DEVICE = "door-camera", "door-lock"
CONNECT_TIMEOUT_S = 5.0
REPLY_TIMEOUT_S = 3.0
HANDOFF_TIMEOUT_S = 15.0
LEAK_WINDOW_S = 0.5
"""How long an accepted impostor is watched for leaked messages (only ever spent on a failure)."""


@dataclass
class TakeoverFigures:
    """What one run of the matrix found; ``failures`` says which attempt did what."""

    broker: str
    attempts: int = 0
    refused: int = 0
    accepted: int = 0
    victims_affected: int = 0
    """Checks after an attempt in which the victim did not answer a command."""
    offline_notices: int = 0
    messages_leaked: int = 0
    handoff_intact: bool = False
    elapsed_s: float = 0.0
    failures: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """Nothing taken over: every attempt refused, no victim touched, nothing leaked."""
        return (
            self.accepted == 0
            and self.victims_affected == 0
            and self.offline_notices == 0
            and self.messages_leaked == 0
            and self.handoff_intact
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "attempts": self.attempts,
            "refused": self.refused,
            "accepted": self.accepted,
            "victims_affected": self.victims_affected,
            "offline_notices": self.offline_notices,
            "messages_leaked": self.messages_leaked,
            "handoff_intact": self.handoff_intact,
            "elapsed_s": round(self.elapsed_s, 2),
        }


async def takeover_matrix(
    broker: str = "embedded",
    *,
    size: int = 1,
    victims: Sequence[str] | None = None,
    attackers: Sequence[str] = ATTACKERS,
    sessions: Sequence[str] = SESSIONS,
    progress: Progress = quiet,
) -> TakeoverFigures:
    """Run the whole matrix ``size`` times on ``broker`` (``embedded`` or ``mosquitto``).

    ``victims``: device ids of the demo home and ``$orchestrator`` (default: all of them).
    Attempts = size x attackers x sessions x victims (100 per unit of size by default, about
    2 s on either broker).
    """
    choice = BrokerChoice.parse(broker)
    if choice.kind == "url":
        msg = "the takeover matrix runs on a broker HyperHome starts: 'embedded' or 'mosquitto'"
        raise ConfigError(msg)
    plan = load_home("demo")
    everyone = [ORCHESTRATOR, *(d.id for d in plan.devices)]  # the orchestrator's session reads the most
    names = list(victims) if victims is not None else everyone
    unknown = [*(set(names) - set(everyone)), *(set(attackers) - set(ATTACKERS)), *(set(sessions) - set(SESSIONS))]
    if unknown:
        msg = f"takeover matrix: no victim, attacker or session called {', '.join(sorted(unknown))}"
        raise ConfigError(msg)
    figures = TakeoverFigures(broker=choice.describe())
    demo = HomeCredentials.generate(plan.home, [d.id for d in plan.devices], root=plan.root)
    other = HomeCredentials.generate(OTHER_HOME, [ATTACKING_CAMERA], root=plan.root)
    started = time.perf_counter()
    async with open_broker(choice, [demo, other]) as (demo, other):
        at = BrokerChoice("url", demo.host, demo.port, logins=_logins_of(demo))  # the demo home, on this broker
        async with Home(plan, broker=at, speed=1.0) as home, home.controller(in_sim_time=False) as ctl:
            progress(f"takeover matrix on {figures.broker}: {len(names)} victims, a camera handoff running")
            watch = _OfflineWatch(home.topics)
            await ctl.bus.subscribe(home.topics.all_of("$availability"), watch)
            await ctl.synced()
            flow_id = await _handoff(ctl)
            for _ in range(size):
                for attacker in attackers:
                    for session in sessions:
                        for victim in names:
                            login = _attacker_login(attacker, victim, demo, other)
                            await _attempt(figures, demo, ctl, victim, attacker, login, clean=session == "clean")
            await ctl.synced()
            figures.offline_notices = watch.notices
            figures.failures += [f"offline notice on {topic}" for topic in watch.topics]
            status = ctl.flows.get(flow_id)
            figures.handoff_intact = status is not None and status.state == FlowState.RUNNING
            if not figures.handoff_intact:
                seen = "gone" if status is None else f"{status.state}: {status.error}"
                figures.failures.append(f"the camera handoff is {seen}")
    figures.elapsed_s = time.perf_counter() - started
    progress(f"takeover matrix on {figures.broker}: {figures.attempts} attempts, {figures.refused} refused")
    return figures


def _logins_of(creds: HomeCredentials) -> ClientLogins:
    def file_login(login: Login) -> FileLogin:
        return FileLogin(username=login.username, password=login.password)

    return ClientLogins(
        orchestrator=file_login(creds.orchestrator),
        controller=file_login(creds.controller),
        clock=file_login(creds.clock),
        devices={device: file_login(login) for device, login in creds.devices.items()},
    )


def _attacker_login(attacker: str, victim: str, demo: HomeCredentials, other: HomeCredentials) -> Login | None:
    match attacker:
        case "anonymous":
            return None
        case "wrong-password":
            username = client_id_of(demo.home, victim)
            return Login(username=username, password="not-the-password")
        case "same-home-device":
            return demo.device(SPARE_DEVICE if victim == ATTACKING_CAMERA else ATTACKING_CAMERA)
        case "other-home-device":
            return other.device(ATTACKING_CAMERA)
        case _:
            return demo.controller


async def _attempt(
    figures: TakeoverFigures,
    creds: HomeCredentials,
    ctl: Controller,
    victim: str,
    attacker: str,
    login: Login | None,
    *,
    clean: bool,
) -> None:
    what = f"{attacker} as {victim} ({'clean' if clean else 'persistent'} session)"
    figures.attempts += 1
    leaked = await _impostor(creds, client_id_of(creds.home, victim), login, clean=clean)
    if leaked is None:
        figures.refused += 1
    else:
        figures.accepted += 1
        figures.messages_leaked += leaked
        figures.failures.append(f"{what}: accepted, {leaked} messages received")
    try:
        await ctl.request(victim, "no.such.command", {}, timeout_s=REPLY_TIMEOUT_S)
    except TimeoutError:
        figures.victims_affected += 1
        figures.failures.append(f"{what}: {victim} did not answer a command within {REPLY_TIMEOUT_S:g} s")


async def _impostor(creds: HomeCredentials, client_id: str, login: Login | None, *, clean: bool) -> int | None:
    """Connect as ``client_id``; None if the broker refused, else how many messages arrived."""
    client = aiomqtt.Client(
        creds.host,
        creds.port,
        identifier=client_id,
        username=login.username if login else None,
        password=login.password if login else None,
        clean_session=clean,
        protocol=aiomqtt.ProtocolVersion.V311,
        timeout=CONNECT_TIMEOUT_S,
    )
    try:
        await client.__aenter__()
    except aiomqtt.MqttError:
        return None
    received = 0
    try:
        with contextlib.suppress(TimeoutError, aiomqtt.MqttError):
            async with asyncio.timeout(LEAK_WINDOW_S):
                async for _message in client.messages:
                    received += 1
    finally:
        with contextlib.suppress(aiomqtt.MqttError):
            await client.__aexit__(None, None, None)
    return received


async def _handoff(ctl: Controller) -> str:
    """A camera handoff under way: the tablet's call shows the phone's rear camera."""
    await ctl.send("tablet", "call.start", {"with": "colleague"})
    source = {"device": "phone", "stream": "rear"}
    flow_id = await ctl.start_flow("camera_handoff", {"call_device": "tablet", "source": source, "user": "alice"})
    status = await ctl.wait_flow(flow_id, _handed_off_or_ended, timeout_s=HANDOFF_TIMEOUT_S)
    if status.state != FlowState.RUNNING:
        msg = f"the camera handoff did not start: {status.state} ({status.error})"
        raise ConfigError(msg)
    return flow_id


def _handed_off_or_ended(status: FlowStatus) -> bool:
    return bool(status.result) or ended(status)


class _OfflineWatch:
    """Counts ``$availability`` offline notices published while it watches (retained copies aside)."""

    def __init__(self, topics: Topics) -> None:
        self._topics = topics
        self.notices = 0
        self.topics: list[str] = []

    def __call__(self, message: Message) -> None:
        if not message.retain and message.text.strip() == OFFLINE:
            self.notices += 1
            self.topics.append(message.topic)

"""What a rule's actions do: commands, flows, notifications, the car's display, speech, delays.

``Actions.do`` runs one action of a run and returns a short note of what it did (kept in the
run's record, shown by ``automation.list`` and ``automation.why``), or raises ``ActionFailed``
with a sentence: the device is offline, it refused (its error reply), it did not answer within
``COMMAND_TIMEOUT_S``, or the orchestrator refused the flow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hyperhome.errors import CommandError, NotConnectedError
from hyperhome.orchestrator.automations import describe
from hyperhome.orchestrator.automations.describe import HomeView
from hyperhome.orchestrator.automations.model import Action, Rule
from hyperhome.orchestrator.automations.records import Run
from hyperhome.orchestrator.automations.templates import StateLookup, render

if TYPE_CHECKING:
    from hyperhome.orchestrator.service import Orchestrator

COMMAND_TIMEOUT_S = 5.0
"""Reply bound of an action's command, simulated seconds (the flows' DEFAULT_COMMAND_TIMEOUT_S)."""


class ActionFailed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Actions:
    """Runs actions on behalf of the automations service, through its orchestrator."""

    def __init__(self, orchestrator: Orchestrator) -> None:
        self.orchestrator = orchestrator

    def home(self) -> HomeView:
        return HomeView(self.orchestrator.registry.devices, self.orchestrator.ctx.residents)

    async def do(self, rule: Rule, run: Run, action: Action) -> str:
        """Do one action; a short note of what was done, or ActionFailed."""
        values = self._values(rule, run)
        if action.delay is not None:
            await self.orchestrator.clock.sleep(action.delay, drive=False)
            return f"waited {describe.number(action.delay)} s"
        if action.command is not None:
            c = action.command
            command_args = render(c.args, values)
            for device in c.device:
                await self._send(device, c.name, command_args)
            return f"sent {c.name} to {', '.join(c.device)}"
        if action.flow is not None:
            return await self._flow(run, action.flow.kind, render(action.flow.args, values))
        if action.notify is not None:
            n = action.notify
            phones = self._phones(n.device, n.user)
            note = {"title": render(n.title, values), "body": render(n.body, values), "app": n.app}
            for phone in phones:
                await self._send(phone, "notify", note)
            return f"notified {', '.join(phones)}"
        if action.display is not None:
            return await self._display(action, values)
        assert action.say is not None
        s = action.say
        args: dict[str, Any] = {"text": render(s.text, values)}
        if s.zone is not None:
            args["zone"] = s.zone
        await self._send(s.device, "say", args)
        return f"said on {s.device}"

    async def _flow(self, run: Run, kind: str, args: Any) -> str:
        orchestrator = self.orchestrator
        try:
            flow = orchestrator.prepare(kind, args)
        except CommandError as exc:
            msg = f"the orchestrator refused flow {kind}: {exc.message} ({exc.code})"
            raise ActionFailed(msg) from None
        await orchestrator.launch(flow)
        run.flows.append(flow.id)
        return f"started flow {flow.id} ({kind})"

    async def _display(self, action: Action, values: dict[str, Any]) -> str:
        d = action.display
        assert d is not None
        home = self.home()
        cars = [d.device] if d.device is not None else [v.id for v in home.resident_cars()]
        if not cars:
            msg = "no car to show it on: give device, or give a resident a car"
            raise ActionFailed(msg)
        shown, skipped = [], []
        for car in cars:
            if d.only_when_driving and home.value(car, "gear") != "drive":
                skipped.append(car)
                continue
            await self._send(car, "display.show", {"text": render(d.text, values), "level": d.level})
            shown.append(car)
        parts = [f"shown on {', '.join(shown)}"] if shown else []
        if skipped:
            parts.append(f"skipped {', '.join(skipped)} (not driving)")
        return "; ".join(parts)

    def _phones(self, device: str | None, user: str | None) -> list[str]:
        if device is not None:
            return [device]
        phones = self.home().resident_phones()
        if user is not None:
            phones = [v for v in phones if v.meta is not None and v.meta.owner == user]
        if not phones:
            who = f"{user}'s" if user is not None else "a resident's"
            msg = f"no phone to notify: the home has no {who} phone"
            raise ActionFailed(msg)
        return [v.id for v in phones]

    async def _send(self, device: str, command: str, args: Any) -> None:
        orchestrator = self.orchestrator
        view = orchestrator.registry.get(device)
        if view is None or not view.online:
            msg = f"{device} is offline" if view is not None else f"{device} is not in the home"
            raise ActionFailed(msg)
        try:
            await orchestrator.requests.send(device, command, args, timeout_s=COMMAND_TIMEOUT_S)
        except CommandError as exc:
            msg = f"{device} refused {command}: {exc.message} ({exc.code})"
            raise ActionFailed(msg) from None
        except TimeoutError:
            msg = f"{device} did not answer {command} within {COMMAND_TIMEOUT_S:g} s"
            raise ActionFailed(msg) from None
        except NotConnectedError as exc:
            msg = f"the orchestrator could not send {command} to {device}: {exc}"
            raise ActionFailed(msg) from None

    def _values(self, rule: Rule, run: Run) -> dict[str, Any]:
        """What ``${...}`` in an action's strings can name (docs/automations.md, "Templates")."""
        return {
            "because": run.because,
            "now": self.orchestrator.clock.iso(),
            "rule": rule.id,
            "alias": rule.title,
            "trigger": run.hit.values,
            "state": StateLookup(self.home()),
        }

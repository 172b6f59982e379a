"""Proactive automations: rules in YAML that watch the home, act, and say why.

- ``model``: the rules as pydantic models (trigger / condition / action, modes), validated with
  the home's devices and flow kinds when they are known;
- ``describe``: sentences about the home from actual values (the parts of ``because``);
- ``evaluate``: matching triggers and checking conditions, each answer with its sentence;
- ``engine``: ``Automations``, the orchestrator service that fires them (modes, timers) and
  answers the ``automation.*`` commands;
- ``actions``: what each action does; ``templates``: ``${...}`` in actions; ``records``: the
  last evaluation and the runs of each rule, and the sentence ``automation.why`` answers.

docs/automations.md is the user's page.
"""

from __future__ import annotations

from hyperhome.orchestrator.automations.engine import Automations
from hyperhome.orchestrator.automations.model import RULES, Rule

__all__ = ["RULES", "Automations", "Rule"]

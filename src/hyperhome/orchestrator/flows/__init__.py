"""Flow kinds the orchestrator knows, by name (the command topic ``$orchestrator/cmd/{kind}``).

Adding a kind: write ``flows/<kind>.py`` with a ``Flow`` subclass (see ``flows/base.py``) and
add it to ``KINDS``.
"""

from __future__ import annotations

from typing import Any

from hyperhome.orchestrator.flows.base import Flow
from hyperhome.orchestrator.flows.camera_handoff import CameraHandoff
from hyperhome.orchestrator.flows.network_share import NetworkShare
from hyperhome.orchestrator.flows.precool import Precool
from hyperhome.orchestrator.flows.remote_camera import RemoteCamera

KINDS: dict[str, type[Flow[Any]]] = {cls.kind: cls for cls in (CameraHandoff, NetworkShare, Precool, RemoteCamera)}

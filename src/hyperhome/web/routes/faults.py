"""``/api/faults``: the device links of a home run with ``--faults``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from hyperhome.broker.faults import LinkFault, LinkStatus
from hyperhome.web.guard import WireJsonRoute
from hyperhome.web.state import Faults, errors_doc, missing

router = APIRouter(tags=["faults"], route_class=WireJsonRoute)  # bodies read by wire.loads (guard.py)


@router.get("/api/faults", response_model=list[LinkStatus], responses=errors_doc(409))
async def links(control: Faults) -> list[LinkStatus]:
    """Every device's link: latency, stall, partition, connections through its fault proxy."""
    return control.links()


@router.get("/api/faults/{device_id}", response_model=LinkStatus, responses=errors_doc(404, 409))
async def link(control: Faults, device_id: str) -> LinkStatus:
    """One device's link."""
    found = control.link(device_id)
    if found is None:
        missing("device", device_id, f"no device {device_id!r} has a link in this home")
    return found


@router.post("/api/faults", response_model=LinkStatus, responses=errors_doc(404, 409))
async def set_link(control: Faults, fault: Annotated[LinkFault, Body()]) -> LinkStatus:
    """Set one device's link: ``latency``, ``stall``, ``drop``, ``partition`` or ``clear``."""
    if control.link(fault.device) is None:
        missing("device", fault.device, f"no device {fault.device!r} has a link in this home")
    return await control.apply(fault)

"""The takeover matrix on both brokers: nobody takes a client id that is not its login's own.

One run of ``bench.reliability.takeover.takeover_matrix`` per broker, the whole matrix once
(5 attackers x persistent and clean sessions x the orchestrator and 9 devices = 100 attempts,
a few seconds): a running demo home with a camera handoff under way, and a second home on the
same broker whose camera attacks across homes. Before client ids were bound to logins, the same
run found on amqtt 60 impostors accepted, 78 messages leaked to them (28 of them the
orchestrator's session, to the other home's camera) and 90 of 100 checks with a deaf victim;
on Mosquitto 60 impostors accepted, 60 offline notices, 34 checks with a victim that did not
answer within 3 s, and the camera handoff failed.
"""

from __future__ import annotations

from hyperhome.bench.reliability.takeover import ATTACKERS, SESSIONS, takeover_matrix

VICTIMS = 10  # the demo home's 9 devices and its orchestrator


async def test_no_login_but_the_victims_own_takes_its_client_id(broker_kind: str) -> None:
    figures = await takeover_matrix(broker_kind)
    assert figures.attempts == len(ATTACKERS) * len(SESSIONS) * VICTIMS
    assert figures.failures == []
    assert figures.refused == figures.attempts
    assert (figures.accepted, figures.victims_affected, figures.offline_notices, figures.messages_leaked) == (
        0,
        0,
        0,
        0,
    )
    assert figures.handoff_intact

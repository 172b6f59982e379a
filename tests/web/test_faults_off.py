"""Without ``--faults`` the fault routes say how to get them (409), and change nothing."""

from __future__ import annotations

from tests.web.conftest import Web


async def test_faults_need_a_home_run_with_them(web: Web) -> None:
    for response in (
        await web.client.get("/api/faults"),
        await web.client.get("/api/faults/phone"),
        await web.client.post("/api/faults", json={"device": "phone", "latency": "300ms"}),
    ):
        assert response.status_code == 409, response.text
        assert response.json()["code"] == "no_faults"
        assert "hyperhome up --faults" in response.json()["detail"]

"""Policy "partial": the YES devices go ahead when they commit enough of the kW target."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import Api


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"answer_policy": "partial", "partial_min_share": 0.5}


@pytest.mark.parametrize(
    ("committed", "status"), [((6.0, 0.0), "scheduled"), ((4.0, 0.0), "cancelled")]
)
async def test_partial_policy_schedules_the_yes_devices_when_enough_kw_is_committed(
    api: Api, committed: tuple[float, float], status: str
) -> None:
    await api.device("a")
    await api.device("b")
    # 10 kWh over 60 min: target 10 kW; min share 0.5 -> 5 kW needed.
    inv = await api.invite(["a", "b"], load_kwh=10.0, duration_minutes=60)
    assert inv["answer_policy"] == "partial"
    await api.answer(inv["id"], "a", "YES", committed[0])
    final = await api.answer(inv["id"], "b", "NO", committed[1])
    assert final["status"] == status
    if status == "scheduled":
        event = await api.get(f"/api/events/{final['event_id']}")
        assert [d["device_id"] for d in event["devices"]] == ["a"]
        assert event["devices"][0]["committed_kw"] == committed[0]
    else:
        assert "5.000 kW needed" in final["decision_reason"]

"""The TELEMETRY_STATUS a VEN reports (oadrPayloadResourceStatus: online, manual override,
load control state), the latest per rID, as the admin API shows it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select

from gateway.db.engine import Database
from gateway.db.ven_models import VenResourceStatusRow
from gateway.oadr20b.errors import OadrError, StatusCode

# The oadrLoadControlState kinds and the values each carries (oadr_20b.xsd).
LOAD_CONTROL_KINDS = frozenset({"capacity", "level_offset", "percent_offset", "set_point"})
LOAD_CONTROL_VALUES = frozenset({"min", "max", "current", "normal"})


@dataclass(frozen=True)
class ResourceStatus:
    r_id: str
    resource_id: str | None
    online: bool | None
    manual_override: bool | None
    load_control: dict[str, dict[str, float]] | None
    report_request_id: str
    measured_at: datetime


class ResourceStatusView(BaseModel):
    """One rID's latest TELEMETRY_STATUS; a value the VEN did not send is null."""

    r_id: str
    resource_id: str | None
    online: bool | None
    manual_override: bool | None
    load_control: dict[str, dict[str, float]] | None
    report_request_id: str
    measured_at: datetime
    received_at: datetime


def resource_status(
    payload: object, r_id: str, resource_id: str | None, request_id: str, at: datetime
) -> ResourceStatus:
    """An oadrPayloadResourceStatus as parsed; 454 when it is not one."""
    if not isinstance(payload, dict):
        raise OadrError(StatusCode.INVALID_DATA, f"rID {r_id}: no oadrPayloadResourceStatus")
    flags = {}
    for key in ("online", "manual_override"):
        value = payload.get(key)
        if value is not None and not isinstance(value, bool):
            raise OadrError(StatusCode.INVALID_DATA, f"rID {r_id}: {key} is not a boolean")
        flags[key] = value
    return ResourceStatus(
        r_id, resource_id, flags["online"], flags["manual_override"],
        _load_control(payload.get("load_control_state"), r_id), request_id, at,
    )  # fmt: skip


def _load_control(state: Any, r_id: str) -> dict[str, dict[str, float]] | None:
    if state is None:
        return None
    if not isinstance(state, dict):
        raise OadrError(StatusCode.INVALID_DATA, f"rID {r_id}: bad oadrLoadControlState")
    found: dict[str, dict[str, float]] = {}
    for kind, values in state.items():
        if kind not in LOAD_CONTROL_KINDS or not isinstance(values, dict):
            raise OadrError(StatusCode.INVALID_DATA, f"rID {r_id}: bad oadrLoadControlState")
        found[kind] = {}
        for name, value in values.items():
            if (
                name not in LOAD_CONTROL_VALUES
                or isinstance(value, bool)
                or not isinstance(value, int | float)
                or not -1e12 < value < 1e12
            ):
                raise OadrError(StatusCode.INVALID_DATA, f"rID {r_id}: bad {kind} {name}")
            found[kind][name] = float(value)
    return found


class StatusStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def save(self, ven_id: str, statuses: list[ResourceStatus], now: datetime) -> None:
        """Keep each rID's status unless the one stored was measured later."""
        latest: dict[str, ResourceStatus] = {}
        for status in statuses:  # one message may carry an rID several times
            kept = latest.get(status.r_id)
            if kept is None or kept.measured_at <= status.measured_at:
                latest[status.r_id] = status
        if not latest:
            return
        async with self._db.write() as session:
            for status in latest.values():
                row = await session.get(VenResourceStatusRow, (ven_id, status.r_id))
                if row is None:
                    row = VenResourceStatusRow(ven_id=ven_id, r_id=status.r_id)
                    session.add(row)
                elif row.measured_at > status.measured_at:
                    continue
                row.resource_id = status.resource_id
                row.online = status.online
                row.manual_override = status.manual_override
                row.load_control = status.load_control
                row.report_request_id = status.report_request_id
                row.measured_at = status.measured_at
                row.received_at = now

    async def of_ven(self, ven_id: str) -> list[ResourceStatusView]:
        async with self._db.read() as session:
            rows = (
                await session.scalars(
                    select(VenResourceStatusRow)
                    .where(VenResourceStatusRow.ven_id == ven_id)
                    .order_by(VenResourceStatusRow.r_id)
                )
            ).all()
        return [
            ResourceStatusView(
                r_id=r.r_id, resource_id=r.resource_id, online=r.online,
                manual_override=r.manual_override, load_control=r.load_control,
                report_request_id=r.report_request_id, measured_at=r.measured_at,
                received_at=r.received_at,
            )
            for r in rows
        ]  # fmt: skip

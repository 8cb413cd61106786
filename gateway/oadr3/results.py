"""The executor's results of each finished event as 3.x reports for business logic: per
device its baseline (BASELINE, kW), its mean reduction (DEMAND change: DELTA_USAGE is the
energy, kWh, it did not use). A result the executor could not measure is left out."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from gateway.db.models import DeviceRow, EventRow
from gateway.domain.lifecycle import EventStatus
from gateway.oadr3.objects import Kind
from gateway.oadr3.wire import duration_text, metadata, rfc3339
from gateway.services.container import Services

RESULTS_CLIENT = "oadr-gateway-executor"
_DESCRIPTORS = [
    {"objectType": "REPORT_PAYLOAD_DESCRIPTOR", "payloadType": "BASELINE", "units": "KW"},
    {"objectType": "REPORT_PAYLOAD_DESCRIPTOR", "payloadType": "DELTA_USAGE", "units": "KWH"},
    {"objectType": "REPORT_PAYLOAD_DESCRIPTOR", "payloadType": "LOAD_SHED_DELTA_AVAILABLE",
     "units": "KW", "readingType": "MEAN"},
]  # fmt: skip


async def result_reports(services: Services) -> list[dict[str, Any]]:
    async with services.db.read() as session:
        rows = (
            await session.scalars(
                select(EventRow)
                .options(selectinload(EventRow.devices))
                .where(EventRow.status == EventStatus.COMPLETED.value)
                .order_by(EventRow.end_time)
            )
        ).all()
        names = dict((await session.execute(select(DeviceRow.id, DeviceRow.resource_id))).all())
    return [_report(row, names) for row in rows]


def _report(row: EventRow, names: dict[str, str | None]) -> dict[str, Any]:
    body = metadata(Kind.REPORT, f"result-{row.id}", row.updated_at, row.updated_at)
    period = {
        "start": rfc3339(row.start_time),
        "duration": duration_text(row.end_time - row.start_time),
    }
    resources = []
    for device in row.devices:
        payloads = []
        if device.baseline_kw is not None:
            payloads.append({"type": "BASELINE", "values": [device.baseline_kw]})
        if device.energy_reduction_kwh is not None:
            payloads.append({"type": "DELTA_USAGE", "values": [-device.energy_reduction_kwh]})
        if device.average_reduction_kw is not None:
            payloads.append(
                {"type": "LOAD_SHED_DELTA_AVAILABLE", "values": [device.average_reduction_kw]}
            )
        resources.append({
            "resourceName": names.get(device.device_id) or device.device_id,
            "intervalPeriod": period,
            "intervals": [{"id": 0, "payloads": payloads}],
        })  # fmt: skip
    body.update({
        "programID": row.program_id, "eventID": row.id, "clientName": RESULTS_CLIENT,
        "clientID": RESULTS_CLIENT, "reportName": "executor results",
        "payloadDescriptors": _DESCRIPTORS, "resources": resources,
    })  # fmt: skip
    return body

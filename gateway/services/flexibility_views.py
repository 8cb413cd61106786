"""What the flexibility and instruction services return: devices' hourly instructions and the
load they can shed now, serialised as the admin API's JSON."""

from __future__ import annotations

from pydantic import AwareDatetime

from gateway.services.views import View


class InstructionsView(View):
    device_id: str
    timezone: str
    instructions: dict[str, str]
    updated_at: AwareDatetime | None


class DeviceFlexibilityView(View):
    device_id: str
    timezone: str
    local_hour: int
    instruction: str
    current_kw: float | None
    available_kw: float | None
    missing_reason: str | None


class FlexibilityView(View):
    taken_at: AwareDatetime
    total_available_kw: float
    devices_missing_reading: int
    devices: list[DeviceFlexibilityView]


class FlexibilitySnapshotView(View):
    taken_at: AwareDatetime
    total_available_kw: float
    devices_missing_reading: int

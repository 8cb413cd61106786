"""What the VTN's handlers are configured with (from the settings, by ``wiring``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class VtnConfig:
    vtn_id: str
    poll_interval: timedelta
    near_window: timedelta
    report_sampling: timedelta
    open_enrollment: bool
    tolerant: bool  # vtn_schema = "tolerant": see gateway.oadr20b.tolerance

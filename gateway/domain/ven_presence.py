"""Whether a VEN is online: it polled within a few of its poll periods.

One rule, used by the metrics and by anything that shows VENs online or offline.
"""

from __future__ import annotations

from datetime import datetime, timedelta

# A VEN is online while its last contact is within this many poll periods. Three periods
# forgive a late poll or two and the few seconds before "last seen" is stored.
ONLINE_POLL_PERIODS = 3.0


def is_online(
    last_seen_at: datetime | None,
    poll_frequency_seconds: float | None,
    default_poll_seconds: float,
    now: datetime,
) -> bool:
    """``poll_frequency_seconds`` is the period the VEN was given at registration; unset, the
    VTN's default (``vtn_poll_interval_seconds``)."""
    if last_seen_at is None:
        return False
    period = poll_frequency_seconds or default_poll_seconds
    return now - last_seen_at <= timedelta(seconds=ONLINE_POLL_PERIODS * period)

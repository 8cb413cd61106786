"""The sampling period asked of a VEN's report point (``gateway.oadr20b.mapping``): the setting,
moved into the range the VEN offered (oadrMinPeriod..oadrMaxPeriod)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gateway.oadr20b.mapping import sampling_period

S = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("low", "high", "asked"),
    [
        (2 * S, 2 * S, 2 * S),  # one rate only
        (30 * S, 60 * S, 30 * S),  # all slower than wanted: the fastest offered
        (S, 5 * S, 5 * S),  # all faster: the slowest offered
        (S, 60 * S, 10 * S),  # wanted is offered
        (None, None, 10 * S),  # nothing offered: as wanted
        (None, 4 * S, 4 * S),
        (20 * S, None, 20 * S),
        (timedelta(), timedelta(), 10 * S),  # zero bounds nothing
        (30 * S, 20 * S, 30 * S),  # min above max: never faster than the VEN can sample
    ],
)
def test_the_setting_moved_into_what_was_offered(
    low: timedelta | None, high: timedelta | None, asked: timedelta
) -> None:
    assert sampling_period(10 * S, low, high) == asked

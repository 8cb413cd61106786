"""The meter settings refuse a grid the history cannot be kept on, naming the setting."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from gateway.settings import Settings


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"meter_interval_minutes": 7}, "meter_interval_minutes"),  # does not divide an hour
        ({"meter_interval_minutes": 90}, "meter_interval_minutes"),
        ({"meter_sample_seconds": 7}, "meter_sample_seconds"),  # 900 s / 7 is not whole
        ({"meter_interval_minutes": 60, "meter_sample_seconds": 30}, "meter_sample_seconds"),
    ],
)
def test_a_grid_that_cannot_be_kept_is_refused(
    tmp_path: Path, values: dict[str, int], named: str
) -> None:
    with pytest.raises(ValidationError, match=named):
        Settings(data_dir=tmp_path, **values)


@pytest.mark.parametrize(
    "values",
    [{}, {"meter_sample_seconds": 0}, {"meter_interval_minutes": 60, "meter_sample_seconds": 60},
     {"meter_interval_minutes": 5, "meter_sample_seconds": 5}],
)  # fmt: skip
def test_grids_that_fit_are_taken(tmp_path: Path, values: dict[str, int]) -> None:
    settings = Settings(data_dir=tmp_path, **values)
    assert 60 % settings.meter_interval_minutes == 0

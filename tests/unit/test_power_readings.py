"""Power-bus messages: parsing, and the reasons a reading is missing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from gateway.domain.power import (
    MissingReading,
    MissingReason,
    PowerReading,
    parse_power_message,
    read_power_value,
)

NOW = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
MAX_AGE = timedelta(seconds=15)


def message(**fields: object) -> str:
    return json.dumps(fields)


# --- parse_power_message -------------------------------------------------------------------


def test_parse_valid_message() -> None:
    raw = message(kw=4.25, ts="2026-05-04T10:00:00+00:00", source="meter-1")
    assert parse_power_message("dev-a", raw) == PowerReading("dev-a", 4.25, NOW, "meter-1")


def test_parse_accepts_bytes_and_integer_kw() -> None:
    reading = parse_power_message("dev-a", b'{"kw": 3, "ts": "2026-05-04T12:00:00+02:00"}')
    assert reading is not None
    assert reading.kw == 3.0
    assert isinstance(reading.kw, float)
    assert reading.ts == NOW
    assert reading.ts.utcoffset() == timedelta(hours=2)
    assert reading.source is None


def test_parse_accepts_negative_kw() -> None:
    reading = parse_power_message("dev-a", message(kw=-1.5, ts=NOW.isoformat()))
    assert reading is not None
    assert reading.kw == -1.5


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "",
        b"\xff\xfe\x00",
        "[1, 2, 3]",
        '"a string"',
        "4.2",
        "null",
    ],
)
def test_parse_rejects_non_object(raw: str | bytes) -> None:
    assert parse_power_message("dev-a", raw) is None


@pytest.mark.parametrize("kw", [True, False, "4.2", "NaN", None, [1.0], {"v": 1}])
def test_parse_rejects_non_numeric_kw(kw: object) -> None:
    assert parse_power_message("dev-a", message(kw=kw, ts=NOW.isoformat())) is None


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_parse_rejects_non_finite_kw(literal: str) -> None:
    raw = f'{{"kw": {literal}, "ts": "{NOW.isoformat()}"}}'
    assert parse_power_message("dev-a", raw) is None


def test_parse_rejects_missing_kw() -> None:
    assert parse_power_message("dev-a", message(ts=NOW.isoformat())) is None


def test_parse_rejects_missing_ts() -> None:
    assert parse_power_message("dev-a", message(kw=1.0)) is None


@pytest.mark.parametrize("ts", [1714816800, "yesterday", "", None])
def test_parse_rejects_bad_ts(ts: object) -> None:
    assert parse_power_message("dev-a", message(kw=1.0, ts=ts)) is None


def test_parse_rejects_naive_ts() -> None:
    assert parse_power_message("dev-a", message(kw=1.0, ts="2026-05-04T10:00:00")) is None


@pytest.mark.parametrize("source", [42, True, ["a"], {"name": "x"}])
def test_parse_rejects_non_string_source(source: object) -> None:
    assert parse_power_message("dev-a", message(kw=1.0, ts=NOW.isoformat(), source=source)) is None


def test_parse_accepts_null_source() -> None:
    reading = parse_power_message("dev-a", message(kw=1.0, ts=NOW.isoformat(), source=None))
    assert reading == PowerReading("dev-a", 1.0, NOW, None)


# --- read_power_value ----------------------------------------------------------------------


def test_absent_value_is_missing() -> None:
    assert read_power_value("dev-a", None, NOW, MAX_AGE) == MissingReading(
        "dev-a", MissingReason.ABSENT
    )


@pytest.mark.parametrize("raw", ["garbage", b"{}", '{"kw": "1", "ts": "2026-05-04T10:00:00Z"}'])
def test_garbage_is_unparsable(raw: str | bytes) -> None:
    assert read_power_value("dev-a", raw, NOW, MAX_AGE) == MissingReading(
        "dev-a", MissingReason.UNPARSABLE
    )


def test_old_reading_is_stale() -> None:
    raw = message(kw=2.0, ts=(NOW - timedelta(seconds=16)).isoformat())
    assert read_power_value("dev-a", raw, NOW, MAX_AGE) == MissingReading(
        "dev-a", MissingReason.STALE
    )


def test_far_future_reading_is_missing() -> None:
    raw = message(kw=2.0, ts=(NOW + timedelta(seconds=16)).isoformat())
    assert read_power_value("dev-a", raw, NOW, MAX_AGE) == MissingReading(
        "dev-a", MissingReason.FUTURE
    )


def test_fresh_reading_is_returned_with_its_kw() -> None:
    ts = NOW - timedelta(seconds=5)
    raw = message(kw=7.5, ts=ts.isoformat(), source="meter")
    assert read_power_value("dev-a", raw, NOW, MAX_AGE) == PowerReading("dev-a", 7.5, ts, "meter")


@pytest.mark.parametrize("offset", [timedelta(seconds=-15), timedelta(seconds=15)])
def test_reading_exactly_at_max_age_is_fresh(offset: timedelta) -> None:
    raw = message(kw=1.0, ts=(NOW + offset).isoformat())
    reading = read_power_value("dev-a", raw, NOW, MAX_AGE)
    assert isinstance(reading, PowerReading)
    assert reading.kw == 1.0


def test_age_is_compared_across_time_zones() -> None:
    # 11:59:55 at +02:00 is 09:59:55 UTC: 5 s old, not two hours in the future.
    ts = datetime(2026, 5, 4, 11, 59, 55, tzinfo=timezone(timedelta(hours=2)))
    reading = read_power_value("dev-a", message(kw=3.0, ts=ts.isoformat()), NOW, MAX_AGE)
    assert isinstance(reading, PowerReading)
    assert reading.kw == 3.0


def test_missing_reading_carries_no_number() -> None:
    reading = read_power_value("dev-a", None, NOW, MAX_AGE)
    assert isinstance(reading, MissingReading)
    assert not hasattr(reading, "kw")
    assert str(reading.reason) == "absent"

"""Auto-response rules: config bounds, when to answer, and what to answer."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from gateway.domain.auto_response import (
    MAX_MIN_NOTICE_MINUTES,
    MAX_RESPONSE_DELAY_SECONDS,
    AutoResponseConfig,
    AutoResponsePlan,
    auto_answers,
    notice_problem,
    plan_auto_response,
)
from gateway.domain.errors import FieldError, ValidationFailed
from gateway.domain.invitations import Answer, AnswerSource, DeviceAnswer
from gateway.domain.power import MissingReading, MissingReason, PowerReading, Reading

NOW = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


def config_errors(config: AutoResponseConfig) -> list[FieldError]:
    with pytest.raises(ValidationFailed) as info:
        config.validate()
    return info.value.errors


# --- AutoResponseConfig.validate ---------------------------------------------------------


def test_default_config_is_valid_and_disabled() -> None:
    config = AutoResponseConfig()
    config.validate()
    assert config.enabled is False
    assert (
        config.max_reduction_percentage,
        config.response_delay_seconds,
        config.min_notice_minutes,
    ) == (20.0, 300, 60)


@pytest.mark.parametrize("pct", [0.0, -1.0, 100.01, math.nan, math.inf])
def test_bad_max_reduction_percentage_is_rejected(pct: float) -> None:
    errors = config_errors(AutoResponseConfig(max_reduction_percentage=pct))
    assert errors == [FieldError("max_reduction_percentage", "must be > 0 and <= 100")]


@pytest.mark.parametrize("pct", [0.01, 100.0])
def test_max_reduction_percentage_bounds_are_accepted(pct: float) -> None:
    AutoResponseConfig(max_reduction_percentage=pct).validate()


@pytest.mark.parametrize("delay", [-1, MAX_RESPONSE_DELAY_SECONDS + 1])
def test_bad_response_delay_is_rejected(delay: int) -> None:
    errors = config_errors(AutoResponseConfig(response_delay_seconds=delay))
    assert errors == [FieldError("response_delay_seconds", "must be between 0 and 86400")]


@pytest.mark.parametrize("delay", [0, MAX_RESPONSE_DELAY_SECONDS])
def test_response_delay_bounds_are_accepted(delay: int) -> None:
    AutoResponseConfig(response_delay_seconds=delay).validate()


@pytest.mark.parametrize("minutes", [-1, MAX_MIN_NOTICE_MINUTES + 1])
def test_bad_min_notice_is_rejected(minutes: int) -> None:
    errors = config_errors(AutoResponseConfig(min_notice_minutes=minutes))
    assert errors == [FieldError("min_notice_minutes", "must be between 0 and 10080")]


@pytest.mark.parametrize("minutes", [0, MAX_MIN_NOTICE_MINUTES])
def test_min_notice_bounds_are_accepted(minutes: int) -> None:
    AutoResponseConfig(min_notice_minutes=minutes).validate()


def test_every_bad_config_field_is_reported() -> None:
    config = AutoResponseConfig(
        max_reduction_percentage=0.0, response_delay_seconds=-5, min_notice_minutes=-5
    )
    assert [e.field for e in config_errors(config)] == [
        "max_reduction_percentage",
        "response_delay_seconds",
        "min_notice_minutes",
    ]


# --- plan_auto_response / notice_problem -------------------------------------------------


def test_plan_when_disabled_skips_with_reason() -> None:
    plan = plan_auto_response(AutoResponseConfig(enabled=False), NOW + timedelta(days=1), NOW)
    assert plan == AutoResponsePlan(None, "auto-response is disabled")


def test_plan_is_due_after_the_delay() -> None:
    config = AutoResponseConfig(enabled=True, response_delay_seconds=300, min_notice_minutes=60)
    plan = plan_auto_response(config, NOW + timedelta(hours=3), NOW)
    assert plan == AutoResponsePlan(NOW + timedelta(seconds=300), None)


def test_plan_with_zero_delay_is_due_at_creation() -> None:
    config = AutoResponseConfig(enabled=True, response_delay_seconds=0, min_notice_minutes=0)
    plan = plan_auto_response(config, NOW + timedelta(minutes=1), NOW)
    assert plan.due_at == NOW
    assert plan.skip_reason is None


def test_plan_checks_notice_at_the_due_time_not_at_creation() -> None:
    # 62 min of notice at creation, but only 57 min once the 5 min delay has passed.
    config = AutoResponseConfig(enabled=True, response_delay_seconds=300, min_notice_minutes=60)
    plan = plan_auto_response(config, NOW + timedelta(minutes=62), NOW)
    assert plan.due_at is None
    assert plan.skip_reason == ("notice of 57.0 min at answer time is below the minimum of 60 min")


def test_plan_with_exactly_the_minimum_notice_at_due_time_is_due() -> None:
    config = AutoResponseConfig(enabled=True, response_delay_seconds=300, min_notice_minutes=60)
    plan = plan_auto_response(config, NOW + timedelta(minutes=65), NOW)
    assert plan == AutoResponsePlan(NOW + timedelta(minutes=5), None)


def test_notice_problem_none_with_enough_notice() -> None:
    config = AutoResponseConfig(min_notice_minutes=30)
    assert notice_problem(config, NOW + timedelta(minutes=30), NOW) is None
    assert notice_problem(config, NOW + timedelta(hours=5), NOW) is None


def test_notice_problem_reports_short_notice() -> None:
    config = AutoResponseConfig(min_notice_minutes=30)
    problem = notice_problem(config, NOW + timedelta(minutes=29, seconds=30), NOW)
    assert problem == "notice of 29.5 min at answer time is below the minimum of 30 min"


def test_notice_problem_reports_an_event_already_past() -> None:
    config = AutoResponseConfig(min_notice_minutes=0)
    problem = notice_problem(config, NOW - timedelta(minutes=2), NOW)
    assert problem == "notice of -2.0 min at answer time is below the minimum of 0 min"


# --- auto_answers --------------------------------------------------------------------------


def test_reading_commits_its_share_as_yes() -> None:
    ts = NOW - timedelta(seconds=3)
    [answer] = auto_answers([PowerReading("dev-a", 10.0, ts)], 20.0)
    assert answer.device_id == "dev-a"
    assert answer.answer is Answer.YES
    assert answer.committed_kw == pytest.approx(2.0)
    assert answer.source is AnswerSource.AUTO
    assert answer.reason == f"20 % of 10.000 kW measured at {ts.isoformat()}"


def test_missing_reading_answers_no_without_a_number() -> None:
    [answer] = auto_answers([MissingReading("dev-b", MissingReason.STALE)], 20.0)
    assert answer == DeviceAnswer(
        "dev-b", Answer.NO, 0.0, AnswerSource.AUTO, "no usable power reading (stale)"
    )


@pytest.mark.parametrize("reason", list(MissingReason))
def test_every_missing_reason_is_named_in_the_answer(reason: MissingReason) -> None:
    [answer] = auto_answers([MissingReading("dev-b", reason)], 50.0)
    assert answer.answer is Answer.NO
    assert answer.committed_kw == 0.0
    assert answer.reason is not None
    assert reason.value in answer.reason


@pytest.mark.parametrize("kw", [0.0, -3.0])
def test_no_consumption_answers_no(kw: float) -> None:
    [answer] = auto_answers([PowerReading("dev-c", kw, NOW)], 20.0)
    assert answer.answer is Answer.NO
    assert answer.committed_kw == 0.0
    assert answer.source is AnswerSource.AUTO
    assert answer.reason == f"device draws {kw:.3f} kW: nothing to shed"


def test_auto_answers_keep_reading_order_and_one_answer_each() -> None:
    readings: list[Reading] = [
        PowerReading("dev-a", 5.0, NOW),
        MissingReading("dev-b", MissingReason.ABSENT),
        PowerReading("dev-c", 0.0, NOW),
        PowerReading("dev-d", 1.5, NOW),
    ]
    answers = auto_answers(readings, 100.0)
    assert [(a.device_id, a.answer, a.committed_kw) for a in answers] == [
        ("dev-a", Answer.YES, 5.0),
        ("dev-b", Answer.NO, 0.0),
        ("dev-c", Answer.NO, 0.0),
        ("dev-d", Answer.YES, 1.5),
    ]


def test_auto_answers_of_nothing_is_empty() -> None:
    assert auto_answers([], 20.0) == []

"""Invitation validation, answer validation, kW targets and the answer policies."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gateway.domain.errors import FieldError, ValidationFailed
from gateway.domain.invitations import (
    MAX_DEVICES_PER_INVITATION,
    Answer,
    AnswerPolicy,
    AnswerSource,
    Decision,
    DecisionOutcome,
    DeviceAnswer,
    InvitationRequest,
    check_device_list,
    decide,
    target_kw,
    validate_answer,
    validate_invitation,
)

NOW = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
KNOWN = ("dev-a", "dev-b", "dev-c")


def make_request(**changes: Any) -> InvitationRequest:
    base = InvitationRequest(
        event_time=NOW + timedelta(hours=2),
        duration_minutes=60,
        load_kwh=10.0,
        load_percentage=20.0,
        device_ids=("dev-a", "dev-b"),
    )
    return dataclasses.replace(base, **changes)


def errors_of(request: InvitationRequest, known: tuple[str, ...] = KNOWN) -> list[FieldError]:
    with pytest.raises(ValidationFailed) as info:
        validate_invitation(request, NOW, known)
    return info.value.errors


def only_error(request: InvitationRequest, known: tuple[str, ...] = KNOWN) -> FieldError:
    errors = errors_of(request, known)
    assert len(errors) == 1, errors
    return errors[0]


def yes(device: str, kw: float) -> DeviceAnswer:
    return DeviceAnswer(device, Answer.YES, kw)


def no(device: str) -> DeviceAnswer:
    return DeviceAnswer(device, Answer.NO, 0.0)


# --- validate_invitation -------------------------------------------------------------------


def test_valid_invitation_passes() -> None:
    validate_invitation(make_request(), NOW, KNOWN)


def test_event_time_in_the_past_is_rejected() -> None:
    error = only_error(make_request(event_time=NOW - timedelta(minutes=1)))
    assert error == FieldError("event_time", "must be in the future")


def test_event_time_equal_to_now_is_rejected() -> None:
    error = only_error(make_request(event_time=NOW))
    assert error.field == "event_time"
    assert "future" in error.message


def test_naive_event_time_is_rejected() -> None:
    naive = datetime(2026, 5, 4, 12, 0)  # noqa: DTZ001 - the naive value under test
    error = only_error(make_request(event_time=naive))
    assert error.field == "event_time"
    assert "time zone" in error.message


@pytest.mark.parametrize("minutes", [0, 1441])
def test_duration_out_of_range_is_rejected(minutes: int) -> None:
    error = only_error(make_request(duration_minutes=minutes))
    assert error.field == "duration_minutes"
    assert error.message == "must be between 1 and 1440"


@pytest.mark.parametrize("minutes", [1, 1440])
def test_duration_at_the_bounds_is_accepted(minutes: int) -> None:
    validate_invitation(make_request(duration_minutes=minutes), NOW, KNOWN)


def test_negative_duration_is_rejected() -> None:
    assert only_error(make_request(duration_minutes=-5)).field == "duration_minutes"


@pytest.mark.parametrize("value", [-0.1, math.nan, math.inf, -math.inf])
def test_bad_load_kwh_is_rejected(value: float) -> None:
    error = only_error(make_request(load_kwh=value))
    assert error.field == "load_kwh"
    assert error.message == "must be a number from 0 to 1e+09"


@pytest.mark.parametrize("value", [-1.0, 101.0, math.nan, math.inf])
def test_bad_load_percentage_is_rejected(value: float) -> None:
    error = only_error(make_request(load_percentage=value))
    assert error.field == "load_percentage"
    assert error.message == "must be between 0 and 100"


@pytest.mark.parametrize("value", [0.0, 100.0])
def test_load_percentage_at_the_bounds_is_accepted(value: float) -> None:
    validate_invitation(make_request(load_percentage=value), NOW, KNOWN)


def test_load_kwh_zero_with_a_percentage_is_accepted() -> None:
    validate_invitation(make_request(load_kwh=0.0, load_percentage=5.0), NOW, KNOWN)


def test_both_loads_zero_is_rejected() -> None:
    error = only_error(make_request(load_kwh=0.0, load_percentage=0.0))
    assert error.field == "load_kwh"
    assert "load_percentage" in error.message
    assert "greater than 0" in error.message


def test_empty_device_list_is_rejected() -> None:
    error = only_error(make_request(device_ids=()))
    assert error == FieldError("devices", "must name at least one device")


def test_duplicate_devices_are_rejected() -> None:
    error = only_error(make_request(device_ids=("dev-b", "dev-a", "dev-b", "dev-a", "dev-c")))
    assert error.field == "devices"
    assert error.message == "lists devices more than once: dev-a, dev-b"


def test_unknown_devices_are_rejected() -> None:
    error = only_error(make_request(device_ids=("dev-a", "ghost-2", "ghost-1")))
    assert error.field == "devices"
    assert error.message == "unknown devices: ghost-1, ghost-2"


def test_several_bad_fields_produce_several_errors() -> None:
    request = make_request(
        event_time=NOW - timedelta(hours=1),
        duration_minutes=0,
        load_kwh=-1.0,
        load_percentage=150.0,
        device_ids=("ghost",),
    )
    errors = errors_of(request)
    assert [e.field for e in errors] == [
        "event_time",
        "duration_minutes",
        "load_kwh",
        "load_percentage",
        "devices",
    ]


def test_validation_failed_message_lists_each_field() -> None:
    with pytest.raises(ValidationFailed) as info:
        validate_invitation(make_request(duration_minutes=0, device_ids=()), NOW, KNOWN)
    assert info.value.message == (
        "duration_minutes: must be between 1 and 1440; devices: must name at least one device"
    )


# --- check_device_list ---------------------------------------------------------------------


def test_check_device_list_uses_the_given_field_name() -> None:
    assert check_device_list("device_ids", [], KNOWN) == [
        FieldError("device_ids", "must name at least one device")
    ]


def test_check_device_list_reports_duplicates_and_unknowns_together() -> None:
    errors = check_device_list("devices", ["x", "x", "dev-a"], KNOWN)
    assert errors == [
        FieldError("devices", "lists devices more than once: x"),
        FieldError("devices", "unknown devices: x"),
    ]


def test_check_device_list_accepts_known_unique_devices() -> None:
    assert check_device_list("devices", ["dev-a", "dev-c"], KNOWN) == []


def test_check_device_list_caps_the_number_of_devices() -> None:
    many = [f"d{i}" for i in range(MAX_DEVICES_PER_INVITATION + 1)]
    assert check_device_list("devices", many, many) == [
        FieldError("devices", f"must name at most {MAX_DEVICES_PER_INVITATION} devices")
    ]


# --- validate_answer -----------------------------------------------------------------------


def answer_errors(answer: DeviceAnswer, prefix: str = "") -> list[FieldError]:
    with pytest.raises(ValidationFailed) as info:
        validate_answer(answer, ("dev-a", "dev-b"), prefix)
    return info.value.errors


def test_valid_answers_pass() -> None:
    validate_answer(yes("dev-a", 3.5), ("dev-a", "dev-b"))
    validate_answer(no("dev-b"), ("dev-a", "dev-b"))
    validate_answer(yes("dev-a", 0.0), ("dev-a", "dev-b"))


def test_answer_from_a_device_not_invited_is_rejected() -> None:
    assert answer_errors(yes("dev-c", 1.0)) == [
        FieldError("device_id", "device is not invited to this invitation")
    ]


def test_negative_committed_kw_is_rejected() -> None:
    assert answer_errors(yes("dev-a", -1.0)) == [
        FieldError("committed_kw", "must be a number from 0 to 1e+09")
    ]


def test_nan_committed_kw_is_rejected() -> None:
    assert [e.field for e in answer_errors(yes("dev-a", math.nan))] == ["committed_kw"]


def test_no_with_committed_kw_is_rejected() -> None:
    answer = DeviceAnswer("dev-a", Answer.NO, 2.0)
    assert answer_errors(answer) == [FieldError("committed_kw", "must be 0 when the answer is NO")]


def test_answer_field_prefix_is_applied() -> None:
    errors = answer_errors(DeviceAnswer("dev-z", Answer.NO, 1.0), prefix="answers[2].")
    assert [e.field for e in errors] == ["answers[2].device_id", "answers[2].committed_kw"]


# --- target_kw -----------------------------------------------------------------------------


def test_target_kw_over_an_hour_equals_the_kwh() -> None:
    assert target_kw(10.0, 60) == pytest.approx(10.0)


def test_target_kw_over_half_an_hour_doubles_the_kwh() -> None:
    assert target_kw(10.0, 30) == pytest.approx(20.0)


def test_target_kw_over_two_hours_halves_the_kwh() -> None:
    assert target_kw(10.0, 120) == pytest.approx(5.0)


def test_request_target_kw_and_end_time() -> None:
    request = make_request(load_kwh=10.0, duration_minutes=30)
    assert request.target_kw == pytest.approx(20.0)
    assert request.load_kwh == 10.0
    assert request.end_time == NOW + timedelta(hours=2, minutes=30)


# --- AnswerPolicy --------------------------------------------------------------------------


def test_answer_policy_defaults() -> None:
    policy = AnswerPolicy()
    assert (policy.name, policy.min_share) == ("all", 0.8)


@pytest.mark.parametrize("name", ["some", "ALL", ""])
def test_answer_policy_rejects_unknown_names(name: str) -> None:
    with pytest.raises(ValueError, match="unknown answer policy"):
        AnswerPolicy(name=name)


@pytest.mark.parametrize("share", [0.0, -0.1, 1.01, math.nan])
def test_answer_policy_rejects_bad_shares(share: float) -> None:
    with pytest.raises(ValueError, match="min_share"):
        AnswerPolicy(name="partial", min_share=share)


def test_answer_policy_accepts_share_of_one() -> None:
    assert AnswerPolicy(name="partial", min_share=1.0).min_share == 1.0


# --- decide --------------------------------------------------------------------------------

ALL = AnswerPolicy("all")
PARTIAL = AnswerPolicy("partial", min_share=0.5)
INVITED = ("dev-a", "dev-b", "dev-c")


def test_decide_waits_until_every_device_answered() -> None:
    answers = {"dev-a": yes("dev-a", 1.0), "dev-b": yes("dev-b", 2.0)}
    assert decide(INVITED, answers, 3.0, ALL) is None
    assert decide(INVITED, answers, 3.0, PARTIAL) is None


def test_decide_ignores_answers_from_devices_not_invited() -> None:
    answers = {"dev-a": yes("dev-a", 1.0), "dev-x": yes("dev-x", 5.0)}
    assert decide(("dev-a", "dev-b"), answers, 1.0, ALL) is None


def test_policy_all_schedules_when_everyone_says_yes() -> None:
    answers = {d: yes(d, kw) for d, kw in zip(INVITED, (1.0, 2.0, 3.5), strict=True)}
    decision = decide(INVITED, answers, 100.0, ALL)
    assert decision == Decision(
        DecisionOutcome.SCHEDULE,
        (answers["dev-a"], answers["dev-b"], answers["dev-c"]),
        6.5,
        "every device said YES",
    )


def test_policy_all_cancels_and_names_the_no_devices() -> None:
    answers = {"dev-a": yes("dev-a", 4.0), "dev-b": no("dev-b"), "dev-c": no("dev-c")}
    decision = decide(INVITED, answers, 1.0, ALL)
    assert decision is not None
    assert decision.outcome is DecisionOutcome.CANCEL
    assert decision.participants == ()
    assert decision.committed_kw == 0.0
    assert decision.reason == "policy 'all': NO from dev-b, dev-c"


def test_policy_partial_schedules_at_the_min_share() -> None:
    answers = {"dev-a": yes("dev-a", 3.0), "dev-b": yes("dev-b", 2.0), "dev-c": no("dev-c")}
    decision = decide(INVITED, answers, 10.0, PARTIAL)  # needs 0.5 x 10 = 5 kW
    assert decision is not None
    assert decision.outcome is DecisionOutcome.SCHEDULE
    assert decision.participants == (answers["dev-a"], answers["dev-b"])
    assert decision.committed_kw == pytest.approx(5.0)
    assert "5.000 kW committed >= 5.000 kW needed" in decision.reason


def test_policy_partial_schedules_above_the_min_share() -> None:
    answers = {"dev-a": yes("dev-a", 9.0), "dev-b": no("dev-b"), "dev-c": no("dev-c")}
    decision = decide(INVITED, answers, 10.0, PARTIAL)
    assert decision is not None
    assert decision.outcome is DecisionOutcome.SCHEDULE
    assert [a.device_id for a in decision.participants] == ["dev-a"]
    assert decision.committed_kw == pytest.approx(9.0)


def test_policy_partial_cancels_below_the_min_share() -> None:
    answers = {"dev-a": yes("dev-a", 3.0), "dev-b": yes("dev-b", 1.9), "dev-c": no("dev-c")}
    decision = decide(INVITED, answers, 10.0, PARTIAL)
    assert decision is not None
    assert decision.outcome is DecisionOutcome.CANCEL
    assert decision.participants == ()
    assert decision.committed_kw == 0.0
    assert decision.reason == "policy 'partial': 4.900 kW committed by 2 device(s), 5.000 kW needed"


def test_policy_partial_cancels_when_nobody_said_yes_even_with_zero_target() -> None:
    answers = {d: no(d) for d in INVITED}
    decision = decide(INVITED, answers, 0.0, PARTIAL)
    assert decision is not None
    assert decision.outcome is DecisionOutcome.CANCEL
    assert decision.participants == ()
    assert "by 0 device(s)" in decision.reason


def test_policy_partial_schedules_with_zero_target_when_someone_said_yes() -> None:
    answers = {"dev-a": yes("dev-a", 0.0), "dev-b": no("dev-b"), "dev-c": no("dev-c")}
    decision = decide(INVITED, answers, 0.0, PARTIAL)
    assert decision is not None
    assert decision.outcome is DecisionOutcome.SCHEDULE
    assert decision.participants == (answers["dev-a"],)


def test_policy_partial_uses_the_kw_target_not_kwh() -> None:
    # 10 kWh over 30 min is a 20 kW target: 6 kW committed is below 0.5 x 20 kW.
    answers = {"dev-a": yes("dev-a", 6.0)}
    decision = decide(("dev-a",), answers, target_kw(10.0, 30), PARTIAL)
    assert decision is not None
    assert decision.outcome is DecisionOutcome.CANCEL
    assert "10.000 kW needed" in decision.reason


def test_decide_keeps_participants_in_invitation_order() -> None:
    answers = {"dev-c": yes("dev-c", 1.0), "dev-a": yes("dev-a", 1.0), "dev-b": yes("dev-b", 1.0)}
    decision = decide(INVITED, answers, 3.0, ALL)
    assert decision is not None
    assert [a.device_id for a in decision.participants] == list(INVITED)


def test_device_answer_defaults_to_admin_source() -> None:
    answer = yes("dev-a", 1.0)
    assert answer.source is AnswerSource.ADMIN
    assert answer.reason is None


def test_event_window_refuses_starts_beyond_the_notice_horizon() -> None:
    from gateway.domain.invitations import MAX_NOTICE, check_event_window

    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert check_event_window("start_time", now + MAX_NOTICE, 60, now) == []
    errors = check_event_window("start_time", now + MAX_NOTICE + timedelta(seconds=1), 60, now)
    assert [e.field for e in errors] == ["start_time"]
    assert "3653 days" in errors[0].message


def test_amounts_above_the_ceiling_are_refused_so_derived_targets_stay_finite() -> None:
    from gateway.domain.invitations import MAX_ENERGY_KWH, check_amount

    assert check_amount("load_kwh", MAX_ENERGY_KWH, MAX_ENERGY_KWH) == []
    assert [e.field for e in check_amount("load_kwh", 1e308, MAX_ENERGY_KWH)] == ["load_kwh"]
    assert math.isfinite(target_kw(MAX_ENERGY_KWH, 1))

"""The upstream rules without a network: status -> opt, when to answer, and what a report
request grants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.domain.lifecycle import InvitationStatus
from gateway.services.interval_results import samples_per_interval
from gateway.upstream.reporting import read_grant
from gateway.upstream.reports import (
    OFFERS,
    R_BASELINE_KWH,
    R_COVERAGE,
    R_POWER,
    TELEMETRY_SPECIFIER,
    event_offers,
    reduction_specifier,
)
from gateway.upstream.rules import Opt, opt_for, opt_of

NOW = datetime(2030, 1, 15, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "opt"),
    [
        (InvitationStatus.SCHEDULED, Opt.IN),
        (InvitationStatus.CANCELLED, Opt.OUT),
        (InvitationStatus.EXPIRED, Opt.OUT),
        (InvitationStatus.PENDING, None),
        (None, None),
    ],
)
def test_each_invitation_status_stands_for_one_opt(
    status: InvitationStatus | None, opt: Opt | None
) -> None:
    assert opt_of(status) is opt


def test_a_decided_invitation_is_answered_at_once_with_why() -> None:
    later = NOW + timedelta(minutes=5)
    assert opt_for(InvitationStatus.SCHEDULED, NOW, later, Opt.OUT) == (
        Opt.IN,
        "the devices accepted",
    )
    assert opt_for(InvitationStatus.EXPIRED, NOW, later, Opt.IN) == (
        Opt.OUT,
        "the invitation was expired",
    )


def test_a_pending_invitation_waits_for_the_deadline_then_gets_the_default() -> None:
    due = NOW + timedelta(seconds=30)
    assert opt_for(InvitationStatus.PENDING, NOW, due, Opt.OUT) is None
    opt, why = opt_for(InvitationStatus.PENDING, due, due, Opt.IN) or (None, "")
    assert opt is Opt.IN
    assert "deadline" in why


def _request(specifier: str, r_ids: list[str], **times: timedelta) -> dict[str, object]:
    return {
        "report_request_id": "rr-1",
        "report_specifier": {
            "report_specifier_id": specifier,
            "specifier_payloads": [{"r_id": r} for r in r_ids],
            **times,
        },
    }


def test_a_report_request_grants_only_the_rids_offered_under_its_specifier() -> None:
    request = _request(
        reduction_specifier("ev-1"),
        [R_COVERAGE, R_POWER, "unknown"],
        granularity=timedelta(seconds=2),
        report_back_duration=timedelta(seconds=4),
    )
    offers = OFFERS + event_offers("ev-1", timedelta(minutes=10), 5.0, settlement=False)
    grant = read_grant(request, offers)
    assert grant is not None
    assert grant.r_ids == (R_COVERAGE,)  # R_POWER is offered under the telemetry report
    assert (grant.granularity, grant.report_back) == (timedelta(seconds=2), timedelta(seconds=4))
    assert grant.periodic
    # An event's report is sent as the event's intervals close, never by the report loop.
    assert grant.event_report
    assert not grant.looped
    assert read_grant(request, OFFERS) is None  # not offered (yet, or any more)


def test_a_report_request_for_nothing_offered_grants_nothing() -> None:
    assert read_grant(_request(TELEMETRY_SPECIFIER, ["nope"]), OFFERS) is None
    assert read_grant(_request("other", [R_POWER]), OFFERS) is None


def test_a_request_without_a_report_back_duration_is_sent_once() -> None:
    grant = read_grant(_request(TELEMETRY_SPECIFIER, [R_POWER]), OFFERS)
    assert grant is not None
    assert grant.granularity == timedelta(hours=1)  # none asked: the longest period offered
    assert not grant.periodic


@pytest.mark.parametrize(
    ("granularity", "samples"),
    [(timedelta(seconds=1), 1), (timedelta(seconds=5), 1), (timedelta(minutes=1), 12),
     (timedelta(seconds=61), 13), (timedelta(0), 1)],
)  # fmt: skip
def test_an_interval_is_the_granularity_asked_in_whole_samples(
    granularity: timedelta, samples: int
) -> None:
    assert samples_per_interval(granularity, 5.0) == samples


def test_an_events_report_is_offered_no_finer_than_a_sample_and_settlement_only_with_a_source() -> (
    None
):
    plain = event_offers("ev-1", timedelta(minutes=30), 5.0, settlement=False)
    settled = event_offers("ev-1", timedelta(minutes=30), 5.0, settlement=True)
    assert {o.report_specifier_id for o in plain + settled} == {reduction_specifier("ev-1")}
    assert {o.min_period for o in plain} == {timedelta(seconds=5)}
    assert {o.duration for o in plain} == {timedelta(minutes=30)}
    assert R_BASELINE_KWH not in {o.r_id for o in plain}
    assert R_BASELINE_KWH in {o.r_id for o in settled}

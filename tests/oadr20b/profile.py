"""The 2.0b profile rules a VTN's answers must meet beyond the XSD.

Each rule paraphrases a row of ``oadr20b-vtn-cert-cases.md`` section 3 (its docstring quotes
the row) and yields one line per violation. ``violations`` runs those that apply to an answer's
type. Not checked (yet): "createdDateTime within ±5 min" (the row does not say of what), the
ordering of cancelled events, and the rules for messages this VEN does not exercise (push,
VTN metadata, piggy-backed cancels).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tests.oadr20b.answers import Answer, Event

PENDING = ("far", "near")
# 2.0b signal names and the signalTypes each may have (2.0b Profile Specification, 8.2.2).
SIGNAL_TYPES: dict[str, frozenset[str]] = {
    "SIMPLE": frozenset({"level"}),
    "ELECTRICITY_PRICE": frozenset({"price", "priceRelative", "priceMultiplier"}),
    "ENERGY_PRICE": frozenset({"price", "priceRelative", "priceMultiplier"}),
    "DEMAND_CHARGE": frozenset({"price", "priceRelative", "priceMultiplier"}),
    "BID_PRICE": frozenset({"price"}),
    "BID_LOAD": frozenset({"setpoint"}),
    "BID_ENERGY": frozenset({"setpoint"}),
    "CHARGE_STATE": frozenset({"setpoint", "delta", "multiplier"}),
    "LOAD_DISPATCH": frozenset({"setpoint", "delta", "multiplier", "level"}),
    "LOAD_CONTROL": frozenset({
        "x-loadControlCapacity", "x-loadControlLevelOffset", "x-loadControlPercentOffset",
        "x-loadControlSetpoint",
    }),
}  # fmt: skip
# Answers that carry an eiResponse answering the VEN's own request.
ANSWERS_WITH_RESPONSE = frozenset({
    "oadrCreatedPartyRegistration", "oadrCanceledPartyRegistration", "oadrDistributeEvent",
    "oadrResponse", "oadrRegisteredReport", "oadrUpdatedReport", "oadrCreatedOpt",
    "oadrCanceledOpt", "oadrCreatedReport", "oadrCanceledReport",
})  # fmt: skip


@dataclass
class Context:
    """What the VEN knows when it reads an answer."""

    now: datetime
    sent_request_id: str | None  # the requestID its message carried (None: nothing to echo)
    offered: Mapping[str, tuple[timedelta, timedelta]] = field(default_factory=dict)
    history: Mapping[str, Event] = field(default_factory=dict)  # events seen before, by ID
    report_request_ids: frozenset[str] = frozenset()  # seen in earlier oadrCreateReports
    skew: timedelta = timedelta(seconds=2)  # between the VEN's clock and the VTN's


Check = Callable[[Answer, Context], Iterator[str]]


def echoes_request_id(answer: Answer, context: Context) -> Iterator[str]:
    """ "responses echo the requestID" (every request/response pair of the 2.0b profile)."""
    if context.sent_request_id is not None and answer.request_id != context.sent_request_id:
        yield f"eiResponse requestID {answer.request_id!r}, sent {context.sent_request_id!r}"


def simple_levels(answer: Answer, context: Context) -> Iterator[str]:
    """ "SIMPLE payloads only 0 normal, 1 moderate, 2 high, 3 special" (OL rule 9)."""
    for event in answer.events:
        for signal in (s for s in event.signals if s.name == "SIMPLE"):
            values = [v for i in signal.intervals for v in i.values]
            if signal.current_value is not None:
                values.append(signal.current_value)
            for value in values:
                if value not in (0, 1, 2, 3):
                    yield f"{event.event_id}: SIMPLE value {value} is not 0-3"


def current_values(answer: Answer, context: Context) -> Iterator[str]:
    """ "currentValue 0 while a SIMPLE event is not active; when active, the payload of the
    interval in force" (OL rule 14; TH ActiveCurrentValueMatchCurrentPayload)."""
    for event in answer.events:
        for signal in event.signals:
            if signal.current_value is None:
                continue
            if event.status == "active":
                in_force = signal.value_at(event.start, context.now)
                if in_force is not None and signal.current_value != in_force:
                    yield (
                        f"{event.event_id}: active {signal.name} currentValue "
                        f"{signal.current_value}, the interval in force says {in_force}"
                    )
            elif signal.name == "SIMPLE" and signal.current_value != 0:
                yield (
                    f"{event.event_id}: {event.status} SIMPLE currentValue "
                    f"{signal.current_value}, not 0"
                )


def intervals(answer: Answer, context: Context) -> Iterator[str]:
    """ "interval uids 0,1,2… per signal; interval durations sum to eiActivePeriod; one
    payloadFloat per interval; no dtstart in intervals; signalIDs unique; signalType fits
    signalName" (OL rules 2, 8; TH DistributeEvent checks)."""
    for event in answer.events:
        ids = [s.signal_id for s in event.signals]
        if len(set(ids)) != len(ids):
            yield f"{event.event_id}: signalIDs repeat: {ids}"
        for signal in event.signals:
            where = f"{event.event_id}/{signal.name}"
            uids = [i.uid for i in signal.intervals]
            if uids != [str(n) for n in range(len(uids))]:
                yield f"{where}: interval uids {uids}, not 0, 1, 2, ..."
            total = sum((i.duration or timedelta() for i in signal.intervals), timedelta())
            if total != event.duration:
                yield f"{where}: intervals last {total}, the active period {event.duration}"
            if any(len(i.values) != 1 for i in signal.intervals):
                yield f"{where}: an interval without exactly one payloadFloat"
            if any(i.has_dtstart for i in signal.intervals):
                yield f"{where}: an interval carries a dtstart"
            allowed = SIGNAL_TYPES.get(signal.name)
            if allowed is not None and signal.signal_type not in allowed:
                yield f"{where}: signalType {signal.signal_type} is not one of {sorted(allowed)}"


def _status_at(event: Event, at: datetime) -> set[str]:
    if at >= event.end:
        return {"completed"}
    if at >= event.start:
        return {"active"}
    return set(PENDING)


def status_fits_times(answer: Answer, context: Context) -> Iterator[str]:
    """ "near once now+rampUp ≥ dtstart, else far; active to end; then completed; cancelled
    sticks" (EPRI ``event.rb#update_status``). The VTN's near window is its own: before the
    start, far and near both fit; a boundary within the clock skew fits either side."""
    for event in answer.events:
        if event.status == "cancelled":
            continue
        fitting = set()
        for at in (context.now - context.skew, context.now, context.now + context.skew):
            fitting |= _status_at(event, at)
        if event.status not in fitting:
            yield f"{event.event_id}: status {event.status} at {context.now}, expected {fitting}"


def one_ven_per_target(answer: Answer, context: Context) -> Iterator[str]:
    """ "≤1 venID per eiTarget" (TH DistributeEvent checks)."""
    for event in answer.events:
        for target in event.targets:
            if len(target.ven_ids) > 1:
                yield f"{event.event_id}: an eiTarget names venIDs {target.ven_ids}"


def event_order(answer: Answer, context: Context) -> Iterator[str]:
    """ "order: active first (lower priority number, then earlier start), others by start,
    completed last" (EPRI ``event.rb#compare``; TH EventOrderValid). Cancelled events are
    left out: the row does not place them."""
    rank = {"active": 0, "far": 1, "near": 1, "completed": 2}
    ordered = [e for e in answer.events if e.status in rank]

    def key(event: Event) -> tuple[object, ...]:
        priority = event.priority if event.status == "active" else 0
        return (rank[event.status], priority or 0, event.start)

    if ordered != sorted(ordered, key=key):
        yield f"events out of order: {[(e.event_id, e.status) for e in ordered]}"


def no_overlap(answer: Answer, context: Context) -> Iterator[str]:
    """ "no overlapping events in one market context" (TH EventNonOverlappingPresent; EPRI
    ``event.rb#overlaps``). Cancelled events are left out: they no longer hold their time."""
    held = sorted(
        (e for e in answer.events if e.status != "cancelled"),
        key=lambda e: (e.market_context or "", e.start),
    )
    for before, after in itertools.pairwise(held):
        if before.market_context == after.market_context and after.start < before.end:
            yield (
                f"{before.event_id} and {after.event_id} overlap in market context "
                f"{before.market_context}"
            )


def response_required(answer: Answer, context: Context) -> Iterator[str]:
    """ "oadrResponseRequired set per event: always … or never" (TH RequestEvent check)."""
    for event in answer.events:
        if event.response_required not in ("always", "never"):
            yield f"{event.event_id}: oadrResponseRequired {event.response_required!r}"


def modification_numbers(answer: Answer, context: Context) -> Iterator[str]:
    """ "modificationNumber … +1 per edit or cancel; status changes re-publish without
    increment" (EPRI ``event.rb#publish``, ``#update_status``; TH A_E3_0470/0492)."""
    for event in answer.events:
        before = context.history.get(event.event_id)
        if before is None:
            continue
        if event.modification_number < before.modification_number:
            yield (
                f"{event.event_id}: modificationNumber went back from "
                f"{before.modification_number} to {event.modification_number}"
            )
        elif event.modification_number == before.modification_number:
            if event.terms() != before.terms():
                yield f"{event.event_id}: new terms under the same modificationNumber"
            if event.status == "cancelled" and before.status != "cancelled":
                yield f"{event.event_id}: cancelled without a new modificationNumber"


def registration(answer: Answer, context: Context) -> Iterator[str]:
    """ "pull registrations get oadrRequestedOadrPollFreq" (TH CreatedPartyRegistration)."""
    if answer.code != 200 or answer.field("ei:registrationID") is None:
        return  # a refusal, or the answer to an oadrQueryRegistration
    for path in ("ei:venID", "oadr:oadrRequestedOadrPollFreq/xcal:duration"):
        if not answer.field(path):
            yield f"a registration without {path}"


def report_request_ids(answer: Answer, context: Context) -> Iterator[str]:
    """ "reportRequestIDs unique, non-zero" (TH CreateReport checks)."""
    ids = [r.report_request_id for r in answer.report_requests]
    for request_id in ids:
        if not request_id or request_id == "0":
            yield f"reportRequestID {request_id!r}"
    if len(set(ids)) != len(ids) or set(ids) & context.report_request_ids:
        yield f"reportRequestIDs {ids} repeat (seen before: {sorted(context.report_request_ids)})"


def report_granularity(answer: Answer, context: Context) -> Iterator[str]:
    """ "rIDs from VEN metadata; granularity >0 not below that rID's oadrMinPeriod; … no
    itemBase" (TH CreateReport checks), and not above its oadrMaxPeriod: a VEN refuses a
    sampling rate outside the range it offered. A granularity of 0 asks for one report (or
    one on each change): the cases ask for it (P019, P045, P055, P058), so the range rule is
    for periodic requests; below 0 is always wrong."""
    for request in answer.report_requests:
        where = request.report_request_id
        if request.granularity < timedelta():
            yield f"{where}: granularity {request.granularity}"
        one_shot = request.granularity == timedelta()
        for payload in request.payloads:
            if payload.has_item_base:
                yield f"{where}: specifierPayload {payload.r_id} carries an itemBase"
            if payload.r_id not in context.offered:
                yield f"{where}: rID {payload.r_id} was never offered"
                continue
            low, high = context.offered[payload.r_id]
            if not one_shot and not low <= request.granularity <= high:
                yield (
                    f"{where}: granularity {request.granularity} for rID {payload.r_id}, "
                    f"offered {low} to {high}"
                )


def periodic_report_interval(answer: Answer, context: Context) -> Iterator[str]:
    """ "periodic ones carry reportInterval dtstart+duration, not shorter than min period"
    (TH CreateReport checks)."""
    for request in answer.report_requests:
        periodic = (
            request.granularity > timedelta()
            and (request.report_back_duration or timedelta()) > timedelta()
        )
        if not periodic:
            continue
        if request.report_interval is None:
            yield f"{request.report_request_id}: a periodic request without reportInterval"
            continue
        shortest = min((context.offered[r][0] for r in request.r_ids if r in context.offered),
                       default=timedelta())  # fmt: skip
        if request.report_interval[1] < shortest:
            yield f"{request.report_request_id}: reportInterval shorter than the min period"


RULES: dict[str, tuple[frozenset[str], Check]] = {
    "echoes_request_id": (ANSWERS_WITH_RESPONSE, echoes_request_id),
    "simple_levels": (frozenset({"oadrDistributeEvent"}), simple_levels),
    "current_values": (frozenset({"oadrDistributeEvent"}), current_values),
    "intervals": (frozenset({"oadrDistributeEvent"}), intervals),
    "status_fits_times": (frozenset({"oadrDistributeEvent"}), status_fits_times),
    "one_ven_per_target": (frozenset({"oadrDistributeEvent"}), one_ven_per_target),
    "event_order": (frozenset({"oadrDistributeEvent"}), event_order),
    "no_overlap": (frozenset({"oadrDistributeEvent"}), no_overlap),
    "response_required": (frozenset({"oadrDistributeEvent"}), response_required),
    "modification_numbers": (frozenset({"oadrDistributeEvent"}), modification_numbers),
    "registration": (frozenset({"oadrCreatedPartyRegistration"}), registration),
    "report_request_ids": (frozenset({"oadrCreateReport"}), report_request_ids),
    "report_granularity": (frozenset({"oadrCreateReport"}), report_granularity),
    "periodic_report_interval": (frozenset({"oadrCreateReport"}), periodic_report_interval),
}
# Rules the gateway is known not to meet, and why; a VEN skips them unless asked not to.
KNOWN_GAPS: dict[str, str] = {
    "periodic_report_interval": (
        "the gateway asks for telemetry until cancelled, without a reportInterval; a finite "
        "one would need the request renewed before it runs out"
    ),
}


def violations(
    answer: Answer, context: Context, *, skip: frozenset[str] = frozenset(KNOWN_GAPS)
) -> list[str]:
    """Every profile rule ``answer`` breaks, as ``"rule: what"`` lines."""
    found = []
    for name, (types, check) in RULES.items():
        if name not in skip and answer.message_type in types:
            found.extend(f"{name}: {line}" for line in check(answer, context))
    return found

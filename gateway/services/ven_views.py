"""A VEN as the admin API shows it: its registration, push delivery, own power, the errors it
reported and the schema deviations tolerated from it."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import AwareDatetime, Field

from gateway.db.models import VenErrorRow, VenRow
from gateway.db.ven_models import VenPushTargetRow
from gateway.services.view_base import View


class VenErrorView(View):
    """An error a VEN reported (an oadrResponse or an eventResponse with a code other than
    200)."""

    ven_id: str
    invitation_id: str | None = Field(
        description="the invitation whose OpenADR event (eventID = its id) it is about"
    )
    direct_event_id: str | None = Field(
        default=None,
        description="the event scheduled directly (eventID = its id) it is about; both null: "
        "it named no event known",
    )
    code: int = Field(description="the OpenADR responseCode the VEN sent")
    description: str
    message_type: str = Field(description="oadrResponse or oadrCreatedEvent")
    received_at: AwareDatetime

    @classmethod
    def of(cls, row: VenErrorRow) -> VenErrorView:
        return cls.model_validate(row, from_attributes=True)


class VenErrorsSummary(View):
    count: int
    last: VenErrorView | None


class SchemaDeviationView(View):
    count: int = Field(description="messages from the VEN that needed this repair")
    last_seen_at: AwareDatetime


class VenPowerView(View):
    """The VEN's own power: telemetry that names no resource, when the VEN does not have
    exactly one device to give it to."""

    kw: float
    ts: AwareDatetime
    r_id: str | None


class VenPushView(View):
    """How the VTN's pushes reach a push-mode VEN (2.0b oadrHttpPullModel false)."""

    transport_address: str | None = Field(
        description="the oadrTransportAddress it registered (null: back in pull mode)"
    )
    address_style: str = Field(
        description="openadr: pushes go to {address}/OpenADR2/Simple/2.0b/{service}; "
        "bare: to {address}/{service}"
    )
    pending: int = Field(description="messages in its outbox not yet delivered")
    failures: int = Field(description="failed attempts in a row since the last delivery")
    next_attempt_at: AwareDatetime | None
    last_attempt_at: AwareDatetime | None
    last_delivered_at: AwareDatetime | None
    last_error: str | None
    unreachable_since: AwareDatetime | None = Field(
        description="set once it failed for vtn_push_unreachable_after_seconds; its messages "
        "are kept and it is still tried"
    )

    @classmethod
    def of(cls, row: VenPushTargetRow, pending: int) -> VenPushView:
        return cls(
            transport_address=row.transport_address, address_style=row.address_style,
            pending=pending, failures=row.failures or 0, next_attempt_at=row.next_attempt_at,
            last_attempt_at=row.last_attempt_at, last_delivered_at=row.last_delivered_at,
            last_error=row.last_error, unreachable_since=row.unreachable_since,
        )  # fmt: skip


class VenView(View):
    ven_id: str
    name: str
    fingerprint: str | None
    provisioned: bool = Field(description="false: enrolled on its own (open_enrollment)")
    registered: bool
    registration_id: str | None
    registered_at: AwareDatetime | None
    poll_frequency_seconds: float | None
    last_seen_at: AwareDatetime | None = Field(
        description="last message from the VEN (kept every few seconds)"
    )
    devices: int
    created_at: AwareDatetime
    errors: VenErrorsSummary = Field(description="errors the VEN reported, and the latest")
    schema_deviations: dict[str, SchemaDeviationView] = Field(
        description="schema deviations tolerated from the VEN (vtn_schema = tolerant), by kind "
        "(counted every few seconds)"
    )
    power: VenPowerView | None
    deprovisioned_at: AwareDatetime | None = Field(
        default=None,
        description="when the operator removed the VEN while it was registered: it is told "
        "its registration is cancelled, and is deleted once it answers",
    )
    requests_waiting: list[str] = Field(
        description="what the operator asked of the VEN (cancel_registration, "
        "request_reregistration) and it has not been told yet, oldest first"
    )
    http_pull_model: bool | None = Field(
        default=None,
        description="its registration's transport choice: true pull (it polls), false push "
        "(the VTN POSTs to it); null: not said",
    )
    push: VenPushView | None = Field(
        default=None, description="its push delivery, once it registered in push mode"
    )

    @classmethod
    def of(
        cls, row: VenRow, devices: int, requests_waiting: Sequence[str] = (),
        push: VenPushView | None = None,
    ) -> VenView:  # fmt: skip
        last_error = row.last_error
        power = None
        if row.power_kw is not None and row.power_at is not None:
            power = VenPowerView(kw=row.power_kw, ts=row.power_at, r_id=row.power_r_id)
        return cls(
            ven_id=row.ven_id,
            name=row.name,
            fingerprint=row.fingerprint,
            provisioned=row.provisioned,
            deprovisioned_at=row.deprovisioned_at,
            registered=row.registration_id is not None,
            registration_id=row.registration_id,
            registered_at=row.registered_at,
            poll_frequency_seconds=row.poll_frequency_seconds,
            last_seen_at=row.last_seen_at,
            devices=devices,
            created_at=row.created_at,
            errors=VenErrorsSummary(
                count=row.error_count or 0,
                last=None if last_error is None else VenErrorView.model_validate(last_error),
            ),
            schema_deviations={
                kind: SchemaDeviationView.model_validate(seen)
                for kind, seen in (row.schema_deviations or {}).items()
            },
            power=power,
            requests_waiting=list(requests_waiting),
            http_pull_model=row.http_pull_model,
            push=push,
        )

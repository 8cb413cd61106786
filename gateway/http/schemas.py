"""Request bodies and query strings of the admin API, and the error body it answers with."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from gateway.domain.lifecycle import EventStatus
from gateway.http.text import NO_NUL_PATTERN, unstorable_character, unstorable_message


def _storable(value: str) -> str:
    character = unstorable_character(value)
    if character is not None:
        raise ValueError(unstorable_message(character))
    return value


class Stated:
    """JSON Schema keywords that state, in the OpenAPI document, a rule enforced elsewhere."""

    def __init__(self, **keywords: Any) -> None:
        self.keywords = keywords

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        stated = handler(schema)
        stated.update(self.keywords)
        return stated


# Every free-text field of a body: text that cannot be stored is a 422 naming the field. (A
# field with a pattern of its own, which already leaves NUL out, keeps plain ``str``.)
Text = Annotated[str, AfterValidator(_storable), Stated(pattern=NO_NUL_PATTERN)]
NAME = Field(min_length=1, max_length=128)


class Body(BaseModel):
    """JSON bodies: unknown fields are errors, and numbers must be numbers (no "60")."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class Query(BaseModel):
    """Query strings arrive as text, so they are parsed leniently but checked for range."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class DeviceCreate(Body):
    id: Text = NAME
    timezone: Text = Field(default="UTC", min_length=1, max_length=64)
    ven_id: Text | None = Field(default=None, min_length=1, max_length=128)
    resource_id: Text | None = Field(default=None, min_length=1, max_length=128)


class InvitationCreate(Body):
    event_time: AwareDatetime
    duration_minutes: int | None = Field(
        default=None, description="default: the configured default_duration_minutes (59)"
    )
    load_kwh: float = Field(default=0.0, description="energy to shed over the event, kWh")
    load_percentage: float = Field(default=0.0, description="share of load to shed, 0-100 %")
    devices: list[Text] = Field(max_length=10_000)


class VenCreate(Body):
    name: Text = NAME
    fingerprint: Text | None = Field(
        default=None,
        description="the VEN certificate's OpenADR fingerprint (AA:BB:... 10 bytes); "
        "required for a VEN that talks TLS",
    )
    ven_id: str | None = Field(
        default=None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$",
        description="default: generated",
    )  # fmt: skip


class InvitationModify(InvitationCreate):
    """The same terms as a new invitation: they replace the old ones."""


class InvitationCancel(Body):
    reason: Text | None = Field(default=None, max_length=500)


class AnswerCreate(Body):
    device_id: Text = NAME
    answer: Literal["YES", "NO"]
    committed_kw: float | None = Field(
        default=None, description="power the device commits to shed, kW; required with YES"
    )


class EventCreate(Body):
    start_time: AwareDatetime
    duration_minutes: int | None = None
    devices: list[Text] = Field(max_length=10_000)
    target_kw: float = Field(description="power to shed during the event, kW")


class EventCancel(Body):
    reason: Text | None = Field(default=None, max_length=500)


class AutoResponseUpdate(Body):
    """Fields left out keep their current value."""

    enabled: bool
    max_reduction_percentage: float | None = None
    response_delay_seconds: int | None = None
    min_notice_minutes: int | None = None


class InstructionsUpdate(Body):
    instructions: dict[str, str] = Field(
        description='hour of the device\'s local day ("0".."23") -> participation|shifting|off'
    )


class InvitationQuery(Query):
    state: Literal["waiting", "answered"] | None = None
    hours: float | None = Field(default=None, gt=0, le=24 * 366)
    limit: int = Field(default=50, ge=1, le=1000)


class EventQuery(Query):
    status: EventStatus | None = None
    limit: int = Field(default=100, ge=1, le=1000)


class AnalyticsQuery(Query):
    days: int = Field(default=30, ge=1, le=3650)


class FlexibilityHistoryQuery(Query):
    hours: float = Field(default=24, gt=0, le=24 * 366)
    limit: int = Field(default=100, ge=1, le=10_000)


class FieldErrorBody(BaseModel):
    field: str
    message: str


class ErrorBody(BaseModel):
    error: str
    message: str
    fields: list[FieldErrorBody] | None = None


class HealthPart(BaseModel):
    ok: bool
    detail: str | None = None


class HealthBody(BaseModel):
    status: Literal["ok", "degraded"]
    database: HealthPart
    redis: HealthPart

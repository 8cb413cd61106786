"""Request bodies and query strings of the admin API, and the error body it answers with."""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Literal
from zoneinfo import available_timezones

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from gateway.domain.auto_response import MAX_MIN_NOTICE_MINUTES, MAX_RESPONSE_DELAY_SECONDS
from gateway.domain.flexibility import HOURS, Instruction, is_valid_timezone
from gateway.domain.invitations import (
    MAX_DEVICES_PER_INVITATION,
    MAX_DURATION_MINUTES,
    MAX_ENERGY_KWH,
    MAX_POWER_KW,
    MIN_DURATION_MINUTES,
)
from gateway.domain.lifecycle import EventStatus
from gateway.domain.programs import DEFAULT_PROGRAM_ID
from gateway.domain.text import NO_NUL_PATTERN, unstorable_character, unstorable_message
from gateway.services.devices import DEVICE_ID_PATTERN


def _storable(value: str) -> str:
    character = unstorable_character(value)
    if character is not None:
        raise ValueError(unstorable_message(character))
    return value


class Stated:
    """JSON Schema keywords that state, in the OpenAPI document, a rule enforced elsewhere.

    Most rules are checked by the services, which name every bad field of a body at once
    (pydantic would stop at its own errors); the document still says what they accept, so a
    request generated from it is not refused.
    """

    def __init__(self, **keywords: Any) -> None:
        self.keywords = keywords

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        stated = handler(schema)
        stated.update(self.keywords)
        return stated


def _integral(value: object) -> object:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# An integer as JSON has it: 60 and 60.0 are the same number (JSON Schema's "integer" takes
# both), so both are taken; 60.5, "60" and true are still refused by strict validation.
JsonInt = Annotated[int, BeforeValidator(_integral)]
# Every free-text field of a body: text that cannot be stored is a 422 naming the field. (A
# field with a pattern of its own, which already leaves NUL out, keeps plain ``str``.)
Text = Annotated[str, AfterValidator(_storable), Stated(pattern=NO_NUL_PATTERN)]
NAME = Field(min_length=1, max_length=128)
Minutes = Annotated[JsonInt, Stated(minimum=MIN_DURATION_MINUTES, maximum=MAX_DURATION_MINUTES)]
DeviceList = Annotated[
    list[Text],
    Field(max_length=MAX_DEVICES_PER_INVITATION),
    Stated(minItems=1, uniqueItems=True),
]
# A program's id; one that names no program is a 422 from the service.
ProgramId = Annotated[Text, Field(min_length=1, max_length=64)]
# services.vens.FINGERPRINT after ``.strip().upper()``: hex digits of either case.
FINGERPRINT_PATTERN = r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){9}$"


@cache
def valid_timezones() -> list[str]:
    return sorted(name for name in available_timezones() if is_valid_timezone(name))


def _timezone_enum(schema: dict[str, Any]) -> None:
    schema["enum"] = valid_timezones()


class Body(BaseModel):
    """JSON bodies: unknown fields are errors, and numbers must be numbers (no "60")."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class Query(BaseModel):
    """Query strings arrive as text, so they are parsed leniently but checked for range."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class DeviceCreate(Body):
    model_config = ConfigDict(
        json_schema_extra={  # the service's rule: a resource id belongs to a VEN
            "if": {"properties": {"resource_id": {"type": "string"}}, "required": ["resource_id"]},
            "then": {"properties": {"ven_id": {"type": "string"}}, "required": ["ven_id"]},
        }
    )

    # services.devices checks the pattern (with the other fields' rules); the document says it.
    id: Text = Field(
        min_length=1, max_length=128, json_schema_extra={"pattern": DEVICE_ID_PATTERN.pattern}
    )
    timezone: Text = Field(
        default="UTC", min_length=1, max_length=64, json_schema_extra=_timezone_enum
    )
    ven_id: Text | None = Field(
        default=None, min_length=1, max_length=128, description="required with resource_id"
    )
    resource_id: Text | None = Field(default=None, min_length=1, max_length=128)


class DeviceUpdate(Body):
    """Fields left out keep their value; ``ven_id: null`` detaches the device from its VEN
    (and from its resource id there)."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    timezone: Text = Field(
        default="UTC", min_length=1, max_length=64, json_schema_extra=_timezone_enum
    )
    ven_id: Text | None = Field(default=None, min_length=1, max_length=128)
    resource_id: Text | None = Field(
        default=None, min_length=1, max_length=128, description="needs a VEN (given or kept)"
    )


# At least one of the two targets is above 0 (domain.invitations.validate_invitation).
_SOME_LOAD: dict[str, Any] = {
    "anyOf": [
        {"required": [field], "properties": {field: {"exclusiveMinimum": 0}}}
        for field in ("load_kwh", "load_percentage")
    ]
}


class InvitationTerms(Body):
    model_config = ConfigDict(json_schema_extra=_SOME_LOAD)

    event_time: AwareDatetime = Field(description="in the future, at most 10 years ahead")
    duration_minutes: Minutes | None = Field(
        default=None, description="default: the configured default_duration_minutes (59)"
    )
    load_kwh: Annotated[float, Stated(minimum=0, maximum=MAX_ENERGY_KWH)] = Field(
        default=0.0, description="energy to shed over the event, kWh"
    )
    load_percentage: Annotated[float, Stated(minimum=0, maximum=100)] = Field(
        default=0.0, description="share of load to shed, 0-100 %"
    )
    devices: DeviceList = Field(description="registered devices, each once")


class InvitationCreate(InvitationTerms):
    program_id: ProgramId = Field(
        default=DEFAULT_PROGRAM_ID,
        description="the program it belongs to; every device must take part in it",
    )


class VenCreate(Body):
    name: Text = NAME
    fingerprint: Annotated[Text, Stated(pattern=FINGERPRINT_PATTERN)] | None = Field(
        default=None,
        description="the VEN certificate's OpenADR fingerprint (AA:BB:... 10 bytes); "
        "required for a VEN that talks TLS",
    )
    ven_id: str | None = Field(
        default=None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$",
        description="default: generated",
    )  # fmt: skip


class VenUpdate(Body):
    """Fields left out (and a null name) keep their value; a new fingerprint is a certificate
    rotation (the old certificate is refused from the next message on); ``fingerprint: null``
    leaves the VEN with none, which a VTN with TLS refuses."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    name: Text | None = Field(default=None, min_length=1, max_length=128, description="null: kept")
    fingerprint: Annotated[Text, Stated(pattern=FINGERPRINT_PATTERN)] | None = Field(
        default=None, description="the VEN certificate's OpenADR fingerprint (AA:BB:... 10 bytes)"
    )
    push_address_style: Literal["openadr", "bare"] | None = Field(
        default=None,
        description="where pushes to the VEN go: openadr = "
        "{address}/OpenADR2/Simple/2.0b/{service}, bare = {address}/{service} (null: kept; "
        "kept too for a VEN not in push mode yet)",
    )


class VenRemoved(BaseModel):
    """What ``DELETE /api/vens/{id}`` did."""

    ven_id: str
    status: Literal["removed", "cancelling"] = Field(
        description="removed: the VEN is gone; cancelling: it was registered, is told on its "
        "next poll that its registration is cancelled, and is deleted once it answers "
        "(deleting it again removes it at once)"
    )
    devices_detached: list[str] = Field(description="its devices, kept with no VEN")
    deprovisioned_at: AwareDatetime | None = Field(description="set while cancelling")


class InvitationModify(InvitationTerms):
    """The same terms as a new invitation: they replace the old ones (its program stays)."""


class InvitationCancel(Body):
    reason: Text | None = Field(default=None, max_length=500)


class AnswerCreate(Body):
    model_config = ConfigDict(
        json_schema_extra={  # handlers.answer_invitation and domain.validate_answer
            "allOf": [
                {
                    "if": {"properties": {"answer": {"const": "YES"}}},
                    "then": {
                        "required": ["committed_kw"],
                        "properties": {"committed_kw": {"type": "number"}},
                    },
                },
                {
                    "if": {"properties": {"answer": {"const": "NO"}}},
                    "then": {"properties": {"committed_kw": {"enum": [None, 0]}}},
                },
            ]
        }
    )

    device_id: Text = Field(min_length=1, max_length=128, description="a device invited")
    answer: Literal["YES", "NO"]
    committed_kw: Annotated[float, Stated(minimum=0, maximum=MAX_POWER_KW)] | None = Field(
        default=None,
        description="power the device commits to shed, kW; required with YES, 0 with NO",
    )


class AutoResponseUpdate(Body):
    """Fields left out keep their current value (domain.auto_response checks the ranges)."""

    enabled: bool
    max_reduction_percentage: Annotated[float, Stated(exclusiveMinimum=0, maximum=100)] | None = (
        None
    )
    response_delay_seconds: (
        Annotated[JsonInt, Stated(minimum=0, maximum=MAX_RESPONSE_DELAY_SECONDS)] | None
    ) = None
    min_notice_minutes: (
        Annotated[JsonInt, Stated(minimum=0, maximum=MAX_MIN_NOTICE_MINUTES)] | None
    ) = None


class InstructionsUpdate(Body):
    # Keys and values are checked by services.devices.parse_instructions, which names each
    # bad hour; the document lists what it takes.
    instructions: dict[str, str] = Field(
        description='hour of the device\'s local day ("0".."23") -> participation|shifting|off',
        json_schema_extra={
            "propertyNames": {"enum": [str(hour) for hour in HOURS]},
            "additionalProperties": {"type": "string", "enum": [i.value for i in Instruction]},
        },
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

"""The request bodies of openadr3.yaml as the spec's clients write them: every optional
property may be ``null`` (Definition.md: optional fields are generally nullable), and the
metadata a client echoes back on an update (id, createdDateTime, objectType...) is ignored."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

ObjectId = Annotated[
    str, StringConstraints(pattern=r"^[a-zA-Z0-9_-]*$", min_length=1, max_length=128)
]
Name = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Target = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Duration = Annotated[
    str,
    StringConstraints(
        pattern=r"^(-?)P(?=\d|T\d)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)([DW]))?"
        r"(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$"
    ),
]
Value = float | int | str | bool | dict[str, float]


class Spec(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False, regex_engine="python-re")


class IntervalPeriod(Spec):
    start: str | None = None  # RFC 3339; checked where it is used (wire.parse_time)
    duration: Duration | None = None
    randomizeStart: Duration | None = None


class ValuesMap(Spec):
    type: Name
    values: list[Value]


class Interval(Spec):
    id: int
    intervalPeriod: IntervalPeriod | None = None
    payloads: list[ValuesMap]


class PayloadDescriptor(Spec):
    objectType: Literal["EVENT_PAYLOAD_DESCRIPTOR", "REPORT_PAYLOAD_DESCRIPTOR"] | None = None
    payloadType: Name
    units: str | None = None
    currency: str | None = None
    readingType: str | None = None
    accuracy: float | None = None
    confidence: Annotated[int, Field(ge=0, le=100)] | None = None


class ProgramDescription(Spec):
    URL: Annotated[str, StringConstraints(min_length=2, max_length=8000)]


class ProgramRequest(Spec):
    programName: Name
    intervalPeriod: IntervalPeriod | None = None
    programDescriptions: list[ProgramDescription] | None = None
    payloadDescriptors: list[PayloadDescriptor] | None = None
    attributes: list[ValuesMap] | None = None
    targets: list[Target] | None = None


class VenRequest(Spec):
    """BL_VEN_REQUEST (names the VEN client) or VEN_VEN_REQUEST (the VEN client's own)."""

    objectType: Literal["BL_VEN_REQUEST", "VEN_VEN_REQUEST"] | None = None
    clientID: Name | None = None
    venName: Name
    attributes: list[ValuesMap] | None = None
    targets: list[Target] | None = None


class ResourceRequest(Spec):
    objectType: Literal["BL_RESOURCE_REQUEST", "VEN_RESOURCE_REQUEST"] | None = None
    clientID: Name | None = None
    resourceName: Name
    venID: ObjectId | None = None  # the path's, under /vens/{venID}/resources
    attributes: list[ValuesMap] | None = None
    targets: list[Target] | None = None


class ReportDescriptor(Spec):
    payloadType: Name
    readingType: str | None = None
    units: str | None = None
    targets: list[Target] | None = None
    aggregate: bool | None = None
    startInterval: int | None = None
    numIntervals: int | None = None
    historical: bool | None = None
    frequency: int | None = None
    repeat: int | None = None
    reportIntervals: Literal["INTERVALS", "SUB_INTERVALS", "OPEN_INTERVALS"] | None = None


class EventRequest(Spec):
    programID: ObjectId
    eventName: str | None = None
    duration: Duration | None = None
    priority: Annotated[int, Field(ge=0)] | None = None
    targets: list[Target] | None = None
    reportDescriptors: list[ReportDescriptor] | None = None
    payloadDescriptors: list[PayloadDescriptor] | None = None
    intervalPeriod: IntervalPeriod | None = None
    intervals: list[Interval]


class ReportResource(Spec):
    resourceName: Name
    intervalPeriod: IntervalPeriod | None = None
    intervals: list[Interval]


class ReportRequest(Spec):
    eventID: ObjectId
    programID: ObjectId | None = None  # 3.0.1 clients send it; 3.1.0 reads it from the event
    clientName: Name
    reportName: str | None = None
    payloadDescriptors: list[PayloadDescriptor] | None = None
    resources: list[ReportResource]


def document_of(body: Spec) -> dict[str, Any]:
    """What is stored of a request: its fields as given, nulls dropped."""
    return body.model_dump(mode="json", exclude_none=True)

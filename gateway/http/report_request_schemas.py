"""Request bodies of the operator's report requests of a VEN
(``gateway.services.ven_facing.report_requests`` checks the rules)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import AwareDatetime, Field

from gateway.http.schemas import Body, Text
from gateway.services.ven_facing.report_requests import MAX_SPAN, ReportAsk, ReportName

Seconds = Annotated[float, Field(ge=0, le=MAX_SPAN.total_seconds())]


class ReportRequestCreate(Body):
    report_name: ReportName
    r_ids: Annotated[list[Text], Field(max_length=100)] = Field(
        default_factory=list, description="points the VEN offered; none: all of that report's"
    )
    granularity_seconds: Seconds = Field(default=0, description="0: once (or on each change)")
    report_back_seconds: Seconds = Field(default=0, description="how often the VEN reports")
    start: AwareDatetime | None = Field(default=None, description="none: now")
    duration_seconds: Seconds | None = Field(
        default=None, description="none: open-ended; 0: all there is (HISTORY_USAGE)"
    )
    on_registration: bool = Field(
        default=False,
        description="held for the VEN's next registration of its reports and told in the "
        "answer to it (2.0b: in the oadrRegisteredReport); its points are those that "
        "registration offers",
    )

    def ask(self) -> ReportAsk:
        return ReportAsk(
            report_name=self.report_name, r_ids=tuple(self.r_ids),
            granularity=timedelta(seconds=self.granularity_seconds),
            report_back=timedelta(seconds=self.report_back_seconds), start=self.start,
            duration=None if self.duration_seconds is None
            else timedelta(seconds=self.duration_seconds),
            on_registration=self.on_registration,
        )  # fmt: skip


class ReportRequestCancel(Body):
    report_to_follow: bool = Field(default=False, description="the VEN may send one more report")
    piggy_back: bool = Field(
        default=False, description="tell it in the answer to the VEN's next report"
    )

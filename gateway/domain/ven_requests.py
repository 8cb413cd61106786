"""What the operator may ask of a registered VEN, whatever its protocol: to end its
registration, or to register again, a report or the cancel of one. Each waits for the VEN (a
pull VEN hears it on its next poll); its transport says it in its own words."""

from __future__ import annotations

from enum import StrEnum


class VenRequest(StrEnum):
    CANCEL_REGISTRATION = "cancel_registration"
    REQUEST_REREGISTRATION = "request_reregistration"
    REPORT_REQUEST = "report_request"
    CANCEL_REPORT = "cancel_report"
    # Told in the answer to the VEN's next report, not on a poll.
    CANCEL_REPORT_PIGGY_BACKED = "cancel_report_piggy_backed"
    # Held for the VEN's next oadrRegisterReport and told in its oadrRegisteredReport.
    REPORT_REQUEST_ON_REGISTRATION = "report_request_on_registration"

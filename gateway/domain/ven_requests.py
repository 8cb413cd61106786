"""What the operator may ask of a registered VEN, whatever its protocol: to end its
registration, or to register again. Each waits for the VEN (a pull VEN hears it on its next
poll); its transport says it in its own words."""

from __future__ import annotations

from enum import StrEnum


class VenRequest(StrEnum):
    CANCEL_REGISTRATION = "cancel_registration"
    REQUEST_REREGISTRATION = "request_reregistration"

"""OpenADR response codes and the error every VTN failure is turned into."""

from __future__ import annotations

from enum import IntEnum


class StatusCode(IntEnum):
    OK = 200
    OUT_OF_SEQUENCE = 450
    NOT_ALLOWED = 451
    INVALID_ID = 452
    NOT_RECOGNIZED = 453
    INVALID_DATA = 454
    COMPLIANCE_ERROR = 459
    SIGNAL_NOT_SUPPORTED = 460
    REPORT_NOT_SUPPORTED = 461
    TARGET_MISMATCH = 462
    NOT_REGISTERED_OR_AUTHORIZED = 463
    DEPLOYMENT_ERROR_OR_OTHER_ERROR = 469


class OadrError(Exception):
    """Answered with an OpenADR payload carrying ``code``; nothing was changed."""

    def __init__(
        self,
        code: StatusCode,
        description: str,
        *,
        message_type: str | None = None,
        request_id: str | None = None,
        ven_id: str | None = None,
    ) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.message_type = message_type
        self.request_id = request_id
        self.ven_id = ven_id

"""Where a push goes: a VEN's oadrTransportAddress and one of the two conventions seen in the
field for turning it into a service's URL, chosen per VEN by the operator."""

from __future__ import annotations

from enum import StrEnum


class AddressStyle(StrEnum):
    # ``{address}/OpenADR2/Simple/2.0b/{service}``: the address is the VEN's host (EPRI's VEN).
    OPENADR = "openadr"
    # ``{address}/{service}``: the address already ends in the VEN's OpenADR path.
    BARE = "bare"


OPENADR_PATH = "OpenADR2/Simple/2.0b"

# The service endpoint (2.0b simple HTTP) each pushed message is POSTed to.
SERVICE_OF_PUSH = {
    "oadrDistributeEvent": "EiEvent",
    "oadrCreateReport": "EiReport",
    "oadrCancelReport": "EiReport",
    "oadrRegisterReport": "EiReport",
    "oadrCancelPartyRegistration": "EiRegisterParty",
    "oadrRequestReregistration": "EiRegisterParty",
}


def push_url(address: str, style: AddressStyle, message_type: str) -> str:
    """The URL ``message_type`` is POSTed to. A trailing "/" on the address is not part of
    the convention (N0_5050 re-registers with it flipped): it is dropped."""
    base = address.strip().rstrip("/")
    service = SERVICE_OF_PUSH.get(message_type, "EiEvent")
    if style is AddressStyle.OPENADR and not base.endswith(OPENADR_PATH):
        return f"{base}/{OPENADR_PATH}/{service}"
    return f"{base}/{service}"

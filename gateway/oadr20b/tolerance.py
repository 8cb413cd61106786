"""The schema deviations a tolerant VTN serves (``vtn_schema = "tolerant"``): a closed list.

Each is a benign way field VENs depart from the 2.0b XSD, with the repair that makes the
message what its VEN meant. The VTN validates a repaired copy and reads its payload from that
copy; the signature is checked on the message as it was sent, so a repair never touches what
is signed or by whom. Any other schema error is refused as before (454), naming the first
error that remains. Each repair is counted per VEN (the VEN's view), so the operator can take
it up with the vendor.

- ``unqualified_schema_version``: the message element carries ``schemaVersion`` without its
  namespace (the XSD wants ``ei:schemaVersion``). Seen from VENs of the VOLTTRON lineage.
- ``report_without_request_id``: an ``oadrReport`` of an ``oadrRegisterReport`` has no
  ``ei:reportRequestID``; a registration answers no request, so it is 0 (2.0b). VOLTTRON too.
"""

from __future__ import annotations

import copy
from enum import StrEnum

from lxml import etree

_OADR = "{http://openadr.org/oadr-2.0b/2012/07}"
_EI = "{http://docs.oasis-open.org/ns/energyinterop/201110}"
_REPORT_REQUEST_ID = f"{_EI}reportRequestID"
_REPORT_SPECIFIER_ID = f"{_EI}reportSpecifierID"
_SCHEMA_VERSION = f"{_EI}schemaVersion"


class Deviation(StrEnum):
    UNQUALIFIED_SCHEMA_VERSION = "unqualified_schema_version"
    REPORT_WITHOUT_REQUEST_ID = "report_without_request_id"


def repaired(tree: etree._Element) -> tuple[etree._Element, frozenset[Deviation]] | None:
    """A repaired copy of the oadrPayload ``tree`` and the deviations repaired in it; None when
    it shows none of them (``tree`` itself is never changed)."""
    found = _deviations(tree)
    if not found:
        return None
    fixed = copy.deepcopy(tree)
    message = _message(fixed)
    assert message is not None  # found deviations in it
    if Deviation.UNQUALIFIED_SCHEMA_VERSION in found:
        message.set(_SCHEMA_VERSION, str(message.attrib.pop("schemaVersion")))
    if Deviation.REPORT_WITHOUT_REQUEST_ID in found:
        for specifier in _unrequested_reports(message):
            request_id = specifier.makeelement(_REPORT_REQUEST_ID, {})
            request_id.text = "0"
            specifier.addprevious(request_id)
    return fixed, found


def _deviations(tree: etree._Element) -> frozenset[Deviation]:
    message = _message(tree)
    if message is None:
        return frozenset()
    found = set()
    if "schemaVersion" in message.attrib and _SCHEMA_VERSION not in message.attrib:
        found.add(Deviation.UNQUALIFIED_SCHEMA_VERSION)
    if _unrequested_reports(message):
        found.add(Deviation.REPORT_WITHOUT_REQUEST_ID)
    return frozenset(found)


def _message(tree: etree._Element) -> etree._Element | None:
    signed = tree.find(f"{_OADR}oadrSignedObject")
    if signed is None:
        return None
    return next((c for c in signed if isinstance(c.tag, str)), None)


def _unrequested_reports(message: etree._Element) -> list[etree._Element]:
    """The reportSpecifierIDs of an oadrRegisterReport's reports that lack a reportRequestID
    (the element it comes right before)."""
    if message.tag != f"{_OADR}oadrRegisterReport":
        return []
    return [
        specifier
        for report in message.findall(f"{_OADR}oadrReport")
        if report.find(_REPORT_REQUEST_ID) is None
        and (specifier := report.find(_REPORT_SPECIFIER_ID)) is not None
    ]

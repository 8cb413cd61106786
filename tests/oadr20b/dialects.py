"""How field VENs deviate from the 2.0b schema: transforms of an oadrPayload before it is sent
(and signed, so that a signature covers the message as the VEN sends it).

The VOLTTRON VEN agent (``services/core/OpenADRVenAgent``, ../shared/conformance
``volttron__*``) writes ``schemaVersion`` without its ``ei:`` namespace and registers its
reports without a ``reportRequestID``.
"""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from tests.oadr20b.messages import body_of
from tests.oadr20b.namespaces import findall, qname

Dialect = Callable[[etree._Element], None]


def unqualified_schema_version(root: etree._Element) -> None:
    body = body_of(root)
    version = body.attrib.pop(qname("ei:schemaVersion"), None)
    if version is not None:
        body.set("schemaVersion", version)


def register_report_without_request_id(root: etree._Element) -> None:
    body = body_of(root)
    if body.tag != qname("oadr:oadrRegisterReport"):
        return
    for request_id in findall(body, "oadr:oadrReport/ei:reportRequestID"):
        request_id.getparent().remove(request_id)


def volttron(root: etree._Element) -> None:
    """Both deviations of the VOLTTRON lineage."""
    unqualified_schema_version(root)
    register_report_without_request_id(root)

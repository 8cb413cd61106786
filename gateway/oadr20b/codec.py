"""OpenADR XML in and out: schema check, parse, render and sign (keys loaded once)."""

from __future__ import annotations

import dataclasses
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4
from xml.sax.saxutils import escape as xml_escape

import xmltodict
from lxml import etree
from openleadr import utils
from openleadr.messaging import NAMESPACES, TEMPLATES, XML_SCHEMA
from openleadr.preflight import preflight_message
from signxml import XMLSigner, methods
from signxml.algorithms import SignatureMethod

from gateway.oadr20b.distribute_xml import render_distribute
from gateway.oadr20b.errors import OadrError, StatusCode
from gateway.oadr20b.signing import SigningKey
from gateway.oadr20b.tolerance import Deviation, repaired

logger = logging.getLogger(__name__)

_OADR = "http://openadr.org/oadr-2.0b/2012/07"
_EI = "http://docs.oasis-open.org/ns/energyinterop/201110"
_PYLD = "http://docs.oasis-open.org/ns/energyinterop/201110/payloads"
_DSP = "http://openadr.org/oadr-2.0b/2012/07/xmldsig-properties"
_DS = "http://www.w3.org/2000/09/xmldsig#"
# Plain parsing never resolves entities or fetches anything (no XXE, no billion laughs).
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


class MalformedXml(Exception):
    """Not well-formed XML: no OpenADR answer can be formed (HTTP 400)."""


@dataclass(frozen=True)
class Incoming:
    message_type: str
    payload: dict[str, Any]
    tree: etree._Element  # as sent: what its signature covers
    signed: bool
    deviations: frozenset[Deviation] = frozenset()  # tolerated, and repaired in ``payload``


def _local(tag: object) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


# Unsigned oadrPolls as decoded, by their bytes. A VEN sends the same poll every time, and
# parsing and checking it against the schema was most of an empty poll's cost; the same bytes
# decode to the same message, so each VEN's poll is checked once. Bounded: past the bound the
# oldest entry goes (a VEN whose poll is dropped is simply checked again).
POLL_CACHE_SIZE = 16_384
_decoded_polls: dict[tuple[bytes, bool], Incoming] = {}


def decode(body: bytes, *, tolerant: bool = False) -> Incoming:
    """Well-formed, an oadrPayload, schema-valid and parsable, else an error to answer with.

    ``MalformedXml`` when no OpenADR answer can be formed; ``OadrError`` (with whatever
    message type and requestID could be read) when one can. ``tolerant``: the deviations of
    ``gateway.oadr20b.tolerance`` are repaired (in a copy) rather than refused.
    """
    key = (body, tolerant)
    known = _decoded_polls.get(key)
    if known is not None:
        # A payload of its own: a handler may add to it.
        return Incoming(known.message_type, dict(known.payload), known.tree, False,
                        known.deviations)  # fmt: skip
    incoming = _decode(body, tolerant)
    if incoming.message_type == "oadrPoll" and not incoming.signed:
        if len(_decoded_polls) >= POLL_CACHE_SIZE:
            del _decoded_polls[next(iter(_decoded_polls))]
        _decoded_polls[key] = Incoming(incoming.message_type, dict(incoming.payload),
                                       incoming.tree, False, incoming.deviations)  # fmt: skip
    return incoming


def _decode(body: bytes, tolerant: bool) -> Incoming:
    try:
        tree = etree.fromstring(body, _PARSER)
    except (etree.XMLSyntaxError, ValueError) as err:
        raise MalformedXml(f"not well-formed XML: {err}") from None
    message_type = _message_type(tree)
    request_id = _request_id(tree)
    if _local(tree.tag) != "oadrPayload" or message_type is None:
        raise OadrError(
            StatusCode.COMPLIANCE_ERROR,
            "expected an oadrPayload holding an oadrSignedObject",
            message_type=message_type,
            request_id=request_id,
        )
    # No OpenADR payload has a DOCTYPE. With resolve_entities=False an entity declared in one
    # stays an unresolved node, on which the schema validator raises an internal error (a 469
    # "XMLSchemaValidateError" before this check); refuse such documents as invalid data.
    if tree.getroottree().docinfo.doctype:
        raise OadrError(
            StatusCode.INVALID_DATA,
            "a DOCTYPE is not allowed in an OpenADR payload",
            message_type=message_type,
            request_id=request_id,
        )
    checked, deviations = tree, frozenset[Deviation]()
    error = _schema_error(tree)
    if error is not None and tolerant and (repair := repaired(tree)) is not None:
        checked, deviations = repair
        error = _schema_error(checked)
    if error is not None:
        raise OadrError(
            StatusCode.INVALID_DATA,
            f"schema validation failed: {error}"[:500],
            message_type=message_type,
            request_id=request_id,
        )
    try:
        if message_type == "oadrPoll":
            payload = _poll_payload(checked)
        elif message_type == "oadrResponse":
            payload = _response_payload(checked)
        else:
            payload = _parse(etree.tostring(checked) if deviations else body)
    except Exception as err:  # openleadr's normaliser raises anything on odd but valid input
        raise OadrError(
            StatusCode.INVALID_DATA,
            f"could not read the {message_type}: {type(err).__name__}",
            message_type=message_type,
            request_id=request_id,
        ) from err
    signed = tree.find(f"{{{_DS}}}Signature") is not None
    return Incoming(message_type, payload, tree, signed, deviations)


def _schema_error(tree: etree._Element) -> str | None:
    """The first XSD error, in document order (the one a VEN's author fixes first); None when
    valid."""
    try:
        if XML_SCHEMA.validate(tree):
            return None
    except etree.XMLSchemaValidateError:  # lxml's "internal error": still the client's input
        pass
    first = next(iter(XML_SCHEMA.error_log), None)
    return first.message if first is not None else "invalid"


def _poll_payload(tree: etree._Element) -> dict[str, Any]:
    """An oadrPoll (the bulk of all traffic) carries only a venID: read it off the tree that
    was already validated, as the generic parse would give it."""
    ven_id = tree.findtext(f".//{{{_EI}}}venID")
    return {"ven_id": ven_id.strip() if ven_id else None}


def _response_payload(tree: etree._Element) -> dict[str, Any]:
    """An oadrResponse (a VEN's answer to every push) read off the validated tree, exactly as
    the generic parse gives it (``tests/unit/test_decode_fast_paths.py`` holds them equal)."""
    message = tree.find(f"{{{_OADR}}}oadrSignedObject/{{{_OADR}}}oadrResponse")
    assert message is not None  # the schema and the message type say so
    payload: dict[str, Any] = {}
    response = message.find(f"{{{_EI}}}eiResponse")
    if response is not None:
        fields: dict[str, Any] = {}
        for tag, key in ((f"{{{_EI}}}responseCode", "response_code"),
                         (f"{{{_EI}}}responseDescription", "response_description")):  # fmt: skip
            element = response.find(tag)
            if element is not None:
                fields[key] = _leaf(element.text)
        request_id = response.find(f"{{{_PYLD}}}requestID")
        if request_id is not None:
            fields["request_id"] = _identifier(request_id.text)
        payload["response"] = fields
    ven_id = message.find(f"{{{_EI}}}venID")
    if ven_id is not None:
        payload["ven_id"] = _identifier(ven_id.text)
    return payload


def _identifier(text: str | None) -> str | None:
    stripped = (text or "").strip()
    return stripped or None


def _leaf(text: str | None) -> Any:
    """A text value as openleadr's normaliser makes it: booleans, integers and numbers."""
    value = (text or "").strip()
    if not value:
        return None
    if value in ("true", "false"):
        return value == "true"
    if _INTEGER.match(value):
        return int(value)
    if _NUMBER.match(value):
        return float(value)  # "1.2.3" raises, as the generic parse does: INVALID_DATA
    return value


_INTEGER = re.compile(r"^-?\d+$")
_NUMBER = re.compile(r"^-?[\d.]+$")


def _parse(body: bytes) -> dict[str, Any]:
    # The body has no DOCTYPE (refused above), so expat has no entity to expand.
    message = xmltodict.parse(
        body, process_namespaces=True, namespaces=NAMESPACES, postprocessor=_keep_text
    )
    _, payload = message["oadrPayload"]["oadrSignedObject"].popitem()
    normalized = _restore_text(utils.normalize_dict(payload))
    if not isinstance(normalized, dict):
        raise TypeError("payload is not a mapping")
    _split_report_payloads(normalized)
    return normalized


# openleadr's normalize_dict turns every digits-only text into an int or float, IDs included:
# venID "1234" became 1234 (so a VEN with a numeric venID could not even poll: "must carry a
# venID"), requestID "0042" was echoed as 42 and "1.2.3" raised. Identifiers are text, so they
# are marked before normalising (NUL cannot occur in XML text) and unmarked after.
_TEXT_MARK = "\x00"


def _keep_text(_path: object, key: str, value: object) -> tuple[str, object]:
    if isinstance(value, str) and (key.endswith("ID") or key == "oadrVenName"):
        return key, _TEXT_MARK + value
    return key, value


def _restore_text(value: object) -> object:
    if isinstance(value, str):
        return value.removeprefix(_TEXT_MARK)
    if isinstance(value, dict):
        return {k: _restore_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_restore_text(v) for v in value]
    return value


def _split_report_payloads(payload: dict[str, Any]) -> None:
    """One interval per oadrReportPayload, each with its ``value`` unwrapped.

    The schema allows several oadrReportPayload in one interval (EPRI's VEN sends that);
    openleadr then leaves a list of still-wrapped payloads where everything downstream
    expects one ``{"r_id", "value"}`` mapping (the service raised AttributeError, a 469).
    """
    for report in payload.get("reports") or []:
        intervals = report.get("intervals") if isinstance(report, dict) else None
        if not isinstance(intervals, list):
            continue
        split: list[Any] = []
        for interval in intervals:
            items = interval.get("report_payload") if isinstance(interval, dict) else None
            if not isinstance(items, list):
                split.append(interval)
                continue
            for item in items:
                if isinstance(item, dict):
                    item = dict(item)
                    for kind, cast in (("payload_float", float), ("payload_int", int)):
                        wrapped = item.get(kind)
                        if isinstance(wrapped, dict) and "value" in wrapped:
                            item.pop(kind)
                            item["value"] = _number(wrapped["value"], cast)
                split.append({**interval, "report_payload": item})
        report["intervals"] = split


def _number(value: object, cast: type[float] | type[int]) -> object:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return cast(value)
    return value  # left as sent: the service answers "value is not a number"


def _message_type(tree: etree._Element) -> str | None:
    if _local(tree.tag) == "oadrPayload":
        signed = tree.find(f"{{{_OADR}}}oadrSignedObject")
        if signed is None:
            return None
        children = [c for c in signed if isinstance(c.tag, str)]
        return _local(children[0].tag) if children else None
    return _local(tree.tag) or None


def _request_id(tree: etree._Element) -> str | None:
    for element in tree.iter(f"{{{_PYLD}}}requestID"):
        text = str(element.text or "").strip()
        if text:
            return text[:128]
    return None


_PLAIN_RESPONSES_KEPT = 100_000
# openleadr's oadrPayload template, as it renders: the signature (if any) and the signed object.
_PAYLOAD_HEAD = f'<?xml version="1.0" encoding="utf-8"?>\n<oadr:oadrPayload xmlns:oadr="{_OADR}">'


def _escaped(value: Any) -> Any:
    """Text as XML character data: openleadr's templates do not escape, and IDs, descriptions
    and names can come from a VEN (a venID "a&amp;b" is schema-valid)."""
    if isinstance(value, str):
        return xml_escape(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _escaped(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {k: _escaped(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_escaped(v) for v in value]
    return value


class Encoder:
    """Renders messages (openleadr's templates, the oadrDistributeEvent directly); signs with
    a key loaded once, when one is configured."""

    def __init__(self, signing_key: SigningKey | None) -> None:
        self._key = signing_key
        # Compiled once: Jinja's loader otherwise stats each template file on every use, and
        # each part a template includes (every event, every signal) on every render: about
        # 7 % of a push's CPU. openleadr's templates do not change while the process runs.
        TEMPLATES.auto_reload = False
        self._templates: dict[str, Any] = {}
        self._plain_responses: dict[tuple[object, ...], str] = {}

    def _template(self, name: str) -> Any:
        template = self._templates.get(name)
        if template is None:
            template = self._templates[name] = TEMPLATES.get_template(name)
        return template

    def encode(self, message_type: str, payload: dict[str, Any]) -> str:
        key = self._plain_key(message_type, payload)
        if key is not None and (cached := self._plain_responses.get(key)) is not None:
            return cached
        if message_type == "oadrDistributeEvent":
            # The message every VEN gets for every event change: written directly.
            signed_object = render_distribute(payload, payload.get("baselines") or {})
        else:
            prepared = _escaped(preflight_message(message_type, payload))
            template = self._template(f"{message_type}.xml")
            signed_object = utils.flatten_xml(template.render(**prepared))
        signature = self._sign(signed_object) if self._key is not None else ""
        rendered = f"{_PAYLOAD_HEAD}\n{signature}{signed_object}\n</oadr:oadrPayload>"
        if key is not None:
            if len(self._plain_responses) >= _PLAIN_RESPONSES_KEPT:
                self._plain_responses.clear()
            self._plain_responses[key] = rendered
        return rendered

    def _plain_key(self, message_type: str, payload: dict[str, Any]) -> tuple[object, ...] | None:
        """Unsigned oadrResponses (the answer to most polls) are the same bytes every time
        for one VEN: rendered once. Signed ones carry a fresh nonce and are never reused."""
        if self._key is not None or message_type != "oadrResponse" or set(payload) - {
            "response", "ven_id", "vtn_id"
        }:  # fmt: skip
            return None
        response = payload.get("response") or {}
        return (
            payload.get("ven_id"), payload.get("vtn_id"), response.get("response_code"),
            response.get("response_description"), response.get("request_id"),
        )  # fmt: skip

    def _sign(self, signed_object: str) -> str:
        assert self._key is not None
        tree = etree.fromstring(signed_object)
        signer = XMLSigner(
            method=methods.detached,
            c14n_algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
        )
        signer.namespaces["oadr"] = _OADR
        signer.sign_alg = SignatureMethod.from_fragment(self._key.algorithm)
        signature = signer.sign(
            tree,
            key=self._key.private_key,
            cert=self._key.cert_pem,
            reference_uri="#oadrSignedObject",
            signature_properties=_replay_protect(),
        )
        return str(etree.tostring(signature).decode("utf-8"))


def _replay_protect() -> etree._Element:
    timestamp = etree.Element(f"{{{_DSP}}}timestamp")
    timestamp.text = utils.datetimeformat(datetime.now(UTC))
    nonce = etree.Element(f"{{{_DSP}}}nonce")
    nonce.text = uuid4().hex
    element = etree.Element(
        f"{{{_DSP}}}ReplayProtect",
        nsmap={"dsp": _DSP},
        attrib={"Id": "myid", "Target": "#mytarget"},
    )
    element.append(timestamp)
    element.append(nonce)
    return element

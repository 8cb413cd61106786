"""The oadrResponse read straight off the tree is what the generic parse makes of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.oadr20b.codec import _parse, decode
from gateway.oadr20b.errors import OadrError, StatusCode

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "conformance"


def _response(inner: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<oadr:oadrPayload xmlns:oadr="http://openadr.org/oadr-2.0b/2012/07">'
        '<oadr:oadrSignedObject><oadr:oadrResponse ei:schemaVersion="2.0b" '
        'xmlns:ei="http://docs.oasis-open.org/ns/energyinterop/201110" '
        'xmlns:pyld="http://docs.oasis-open.org/ns/energyinterop/201110/payloads">'
        f"{inner}</oadr:oadrResponse></oadr:oadrSignedObject></oadr:oadrPayload>"
    ).encode()


def _body(code: str, description: str | None, request_id: str, ven_id: str | None) -> bytes:
    parts = [f"<ei:responseCode>{code}</ei:responseCode>"]
    if description is not None:
        parts.append(f"<ei:responseDescription>{description}</ei:responseDescription>")
    parts.append(f"<pyld:requestID>{request_id}</pyld:requestID>")
    inner = f"<ei:eiResponse>{''.join(parts)}</ei:eiResponse>"
    if ven_id is not None:
        inner += f"<ei:venID>{ven_id}</ei:venID>"
    return _response(inner)


VARIANTS = {
    "plain": _body("200", "OK", "req-1", "ven-1"),
    "numeric ids kept as text": _body("200", "OK", "0042", "1234"),
    "no description, no venID": _body("200", None, "r", None),
    "empty requestID and venID": _body("200", "OK", "", ""),
    "an error": _body("459", "Out of sequence", "r", "v"),
    "a numeric description": _body("400", "12", "r", "v"),
    "a decimal description": _body("400", "1.5", "r", "v"),
    "a boolean description": _body("200", "true", "r", "v"),
    "whitespace around": _body("200", "  OK \n", " r ", " v "),
    "escaped text": _body("200", "a &amp; b &lt;c&gt;", "r&amp;1", "v"),
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_an_oadr_response_reads_as_the_generic_parse_reads_it(name: str) -> None:
    body = VARIANTS[name]
    incoming = decode(body)
    assert incoming.message_type == "oadrResponse"
    assert incoming.payload == _parse(body)


def test_the_corpus_responses_read_as_the_generic_parse_reads_them() -> None:
    compared = 0
    for path in sorted(CORPUS.glob("*.xml")):
        body = path.read_bytes()
        try:
            incoming = decode(body, tolerant=True)
        except Exception:
            continue  # refused or not an oadrPayload: nothing to compare
        if incoming.message_type != "oadrResponse" or incoming.deviations:
            continue
        assert incoming.payload == _parse(body), path.name
        compared += 1
    assert compared >= 3


def test_a_description_the_generic_parse_cannot_read_is_still_refused() -> None:
    body = _body("200", "1.2.3", "r", "v")
    with pytest.raises(ValueError, match=r"1\.2\.3"):
        _parse(body)
    with pytest.raises(OadrError) as refused:
        decode(body)
    assert refused.value.code == StatusCode.INVALID_DATA

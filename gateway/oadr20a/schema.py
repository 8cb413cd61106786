"""The 2.0a messages a VTN takes, element by element as the 2.0a schema has them
(``oadr_20a.xsd`` and the EI, payload subsets it imports), and a check that names the first
element out of place. openleadr ships no 2.0a schema; the A profile's VEN messages are three
small documents, so their content model is written out here."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree

OADR_20A = "http://openadr.org/oadr-2.0a/2012/07"
EI = "http://docs.oasis-open.org/ns/energyinterop/201110"
PYLD = "http://docs.oasis-open.org/ns/energyinterop/201110/payloads"

_UNSIGNED = re.compile(r"\+?[0-9]+")
_CODE = re.compile(r"[0-9]{3}")


def _any(_text: str) -> bool:
    return True


def _unsigned(text: str) -> bool:
    return _UNSIGNED.fullmatch(text.strip()) is not None and int(text) < 2**32


def _code(text: str) -> bool:
    return _CODE.fullmatch(text.strip()) is not None


def _opt(text: str) -> bool:
    return text.strip() in ("optIn", "optOut")


@dataclass(frozen=True)
class Element:
    """One element of a sequence: ``children`` in order, or a leaf whose text ``text`` takes."""

    tag: str
    children: tuple[Element, ...] = ()
    optional: bool = False
    repeated: bool = False
    text: Callable[[str], bool] = _any


def _in(namespace: str) -> Callable[..., Element]:
    def element(
        local: str, *children: Element, optional: bool = False, repeated: bool = False,
        text: Callable[[str], bool] = _any,
    ) -> Element:  # fmt: skip
        return Element(f"{{{namespace}}}{local}", children, optional, repeated, text)

    return element


_ei, _pyld = _in(EI), _in(PYLD)


_RESPONSE_PARTS = (
    _ei("responseCode", text=_code),
    _ei("responseDescription", optional=True),
    _pyld("requestID"),
)
EI_RESPONSE = _ei("eiResponse", *_RESPONSE_PARTS)

MESSAGES: dict[str, Element] = {
    "oadrRequestEvent": Element(f"{{{OADR_20A}}}oadrRequestEvent", (
        _pyld("eiRequestEvent", _pyld("requestID"), _ei("venID"),
              _pyld("replyLimit", optional=True, text=_unsigned)),
    )),
    "oadrCreatedEvent": Element(f"{{{OADR_20A}}}oadrCreatedEvent", (
        _pyld("eiCreatedEvent", EI_RESPONSE, _ei("eventResponses", _ei(
            "eventResponse", *_RESPONSE_PARTS,
            _ei("qualifiedEventID", _ei("eventID"), _ei("modificationNumber", text=_unsigned)),
            _ei("optType", text=_opt), optional=True, repeated=True,
        ), optional=True), _ei("venID")),
    )),
    "oadrResponse": Element(f"{{{OADR_20A}}}oadrResponse", (EI_RESPONSE,)),
}  # fmt: skip


def first_error(node: etree._Element, spec: Element) -> str | None:
    """Where ``node`` (an element named ``spec.tag``) first departs from ``spec``."""
    children = [c for c in node if isinstance(c.tag, str)]
    if not spec.children:
        if children:
            return f"{_name(children[0].tag)} is not allowed in {_name(spec.tag)}"
        return None if spec.text(node.text or "") else f"{_name(spec.tag)}: {node.text!r}"
    if (node.text or "").strip():
        return f"{_name(spec.tag)} holds text"
    at = 0
    for part in spec.children:
        count = 0
        while at < len(children) and children[at].tag == part.tag:
            error = first_error(children[at], part)
            if error is not None:
                return error
            at, count = at + 1, count + 1
            if not part.repeated:
                break
        if count == 0 and not part.optional:
            found = _name(children[at].tag) if at < len(children) else "its end"
            return f"{_name(spec.tag)}: expected {_name(part.tag)}, found {found}"
    if at < len(children):
        return f"{_name(children[at].tag)} is not allowed here in {_name(spec.tag)}"
    return None


def _name(tag: object) -> str:
    return str(tag).rpartition("}")[2]

"""Hypothesis strategies that take an OpenADR corpus file and break it in one chosen way.

``mutants(kind, mutation)`` draws a corpus file (half the time one the VTN takes as it is) and
breaks it with ``mutation``, giving a ``Mutant``: the bytes to post and what was done. Element
edits need a well-formed file (else they flip bytes). Before it is broken, a file may be
*retargeted* at the fuzz world's VEN (its venIDs and eventIDs replaced), so that a mutant also
gets past authentication into the services, not only into refusals.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from hypothesis import strategies as st
from lxml import etree
from openleadr.messaging import XML_SCHEMA

from tests.vtn.test_conformance import CORPUS, SAMPLES

EI = "http://docs.oasis-open.org/ns/energyinterop/201110"
# The fuzz world (test_vtn_mutations) has this VEN registered; the test puts the id of its
# invitation in place of EVENT_PLACEHOLDER before posting.
WORLD_VEN = "123ABC"
EVENT_PLACEHOLDER = "fuzz-event-id-placeholder"
LAUGH = "lol"
# Text that no answer may ever contain: it is what an expanded entity would put there.
EXPANDED_LAUGHS = LAUGH * 10
SECRET_MARKER = "fuzz-local-secret-0f3a9c"

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=False)
# By the kind of text they replace, so that many stay schema-valid and reach the services.
HUGE_NUMBERS = (
    "9" * 400,
    "4294967295",  # xs:unsignedInt's largest, over PostgreSQL's integer
    "4294967296",
    "2147483648",
    "-2147483649",
    "18446744073709551616",
    "1e999",
    "-0",
    "NaN",
    "INF",
)
HUGE_TEXTS = (
    "x" * 129,  # one over the id columns
    "x" * 200,
    "x" * 100_000,
    "\u00e9\u4e2d\U0001f600" * 50,
    "P99999999999999Y",
    "9999-12-31T23:59:59.999999999Z",
    " ",
)
_NUMBER = re.compile(r"^\s*[-+]?[0-9.]+([eE][-+]?[0-9]+)?\s*$")


@dataclass(frozen=True)
class Mutant:
    kind: str
    base: str
    body: bytes


def corpus_names() -> list[str]:
    return sorted(p.name for p in CORPUS.glob("*.xml"))


def valid_messages() -> list[str]:
    """The files a VTN takes as they are (enveloped and schema-valid): broken a little, these
    still get past the schema into the services."""
    return sorted(n for n, s in SAMPLES.items() if s.enveloped and s.xsd_valid)


def _tree(body: bytes) -> etree._Element | None:
    try:
        return etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError:
        return None


def _serialise(root: etree._Element) -> bytes:
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def retarget(body: bytes) -> bytes:
    """venIDs -> the world's VEN, eventIDs -> its invitation (placeholder)."""
    root = _tree(body)
    if root is None:
        return body
    for element in root.iter(f"{{{EI}}}venID"):
        element.text = WORLD_VEN
    for element in root.iter(f"{{{EI}}}eventID"):
        element.text = EVENT_PLACEHOLDER
    for element in root.iter(f"{{{EI}}}modificationNumber"):
        element.text = "0"
    return _serialise(root)


def _elements(root: etree._Element) -> list[etree._Element]:
    return [e for e in root.iter() if isinstance(e.tag, str) and e is not root]


def _leaves(root: etree._Element) -> list[etree._Element]:
    return [e for e in _elements(root) if len(e) == 0]


def _with_doctype(body: bytes, internal_subset: str, reference: str, leaf: int) -> bytes:
    """``body`` with a DOCTYPE and ``reference`` as the text of its ``leaf``-th leaf."""
    root = _tree(body)
    if root is None:
        return body
    leaves = _leaves(root) or [root]
    marker = "fuzz-entity-reference-here"
    leaves[leaf % len(leaves)].text = marker
    text = etree.tostring(root, encoding="unicode").replace(marker, reference)
    name = etree.QName(root).localname
    prefix = root.prefix + ":" if root.prefix else ""
    doctype = f"<!DOCTYPE {prefix}{name} [{internal_subset}]>"
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{doctype}\n{text}'.encode()


# --- the mutations: each one (base bytes) -> strategy of mutated bytes ---------------------


def byte_flips(body: bytes) -> st.SearchStrategy[bytes]:
    if not body:
        return st.just(b"\x00")
    flips = st.lists(
        st.tuples(st.integers(0, len(body) - 1), st.integers(1, 255)), min_size=1, max_size=8
    )

    def flip(changes: list[tuple[int, int]]) -> bytes:
        data = bytearray(body)
        for index, mask in changes:
            data[index] ^= mask
        return bytes(data)

    return flips.map(flip)


def truncations(body: bytes) -> st.SearchStrategy[bytes]:
    return st.integers(0, max(len(body) - 1, 0)).map(lambda n: body[:n])


def _edited(body: bytes, index: int, copies: int, duplicate: bool) -> etree._Element:
    tree = _tree(body)
    assert tree is not None
    element = _elements(tree)[index]
    parent = element.getparent()
    assert parent is not None
    if duplicate:
        for _ in range(copies):
            element.addnext(copy.deepcopy(element))
    else:
        parent.remove(element)
    return tree


@cache
def _schema_keeping(body: bytes, duplicate: bool) -> tuple[int, ...]:
    """The elements whose edit leaves the document schema-valid: those edits get past the
    schema into the services (repeated report points, optional elements left out)."""
    root = _tree(body)
    if root is None or not XML_SCHEMA.validate(root):
        return ()
    count = len(_elements(root))
    return tuple(i for i in range(count) if XML_SCHEMA.validate(_edited(body, i, 1, duplicate)))


def _element_edit(body: bytes, duplicate: bool) -> st.SearchStrategy[bytes]:
    root = _tree(body)
    if root is None or not _elements(root):
        return byte_flips(body)
    indices: st.SearchStrategy[int] = st.integers(0, len(_elements(root)) - 1)
    if keeping := _schema_keeping(body, duplicate):
        indices = st.one_of(st.sampled_from(keeping), indices)
    return st.tuples(indices, st.integers(1, 3)).map(
        lambda choice: _serialise(_edited(body, choice[0], choice[1], duplicate))
    )


def deletions(body: bytes) -> st.SearchStrategy[bytes]:
    return _element_edit(body, duplicate=False)


def duplications(body: bytes) -> st.SearchStrategy[bytes]:
    return _element_edit(body, duplicate=True)


def entity_expansions(body: bytes) -> st.SearchStrategy[bytes]:
    """A billion laughs: ten levels of ten references each, used in one leaf."""
    levels = [f'<!ENTITY {LAUGH}0 "{LAUGH}">'] + [
        f'<!ENTITY {LAUGH}{i} "{f"&{LAUGH}{i - 1};" * 10}">' for i in range(1, 10)
    ]
    subset = "".join(levels)
    return st.integers(0, 1000).map(lambda leaf: _with_doctype(body, subset, f"&{LAUGH}9;", leaf))


def external_entities(secret: Path) -> Callable[[bytes], st.SearchStrategy[bytes]]:
    """An entity whose value is a local file (general, and parameter entity) in one leaf."""
    url = secret.resolve().as_uri()
    variants = [
        (f'<!ENTITY xxe SYSTEM "{url}">', "&xxe;"),
        (f'<!ENTITY % xxe SYSTEM "{url}"> %xxe;', "&xxe;"),
        (f'<!ENTITY xxe PUBLIC "-//fuzz//x" "{url}">', "&xxe;"),
    ]

    def strategy(body: bytes) -> st.SearchStrategy[bytes]:
        return st.tuples(st.sampled_from(variants), st.integers(0, 1000)).map(
            lambda choice: _with_doctype(body, choice[0][0], choice[0][1], choice[1])
        )

    return strategy


def deep_nestings(body: bytes) -> st.SearchStrategy[bytes]:
    """One leaf's text wrapped in up to thousands of nested elements (libxml2 refuses more
    than 256 levels unless told otherwise)."""

    def nest(choice: tuple[int, int]) -> bytes:
        depth, leaf = choice
        root = _tree(body)
        if root is None:
            return b"<a>" * depth + body
        leaves = _leaves(root) or [root]
        marker = "fuzz-nesting-here"
        target = leaves[leaf % len(leaves)]
        inner = target.text or ""
        target.text = marker
        text = etree.tostring(root, encoding="unicode")
        nested = "<x>" * depth + inner + "</x>" * depth
        return text.replace(marker, nested).encode()

    return st.tuples(st.sampled_from([64, 255, 300, 5000, 100_000]), st.integers(0, 1000)).map(nest)


def huge_values(body: bytes) -> st.SearchStrategy[bytes]:
    """One to three leaves' text replaced by something very long, very large or odd: numbers
    where there was a number, text where there was text."""
    root = _tree(body)
    if root is None or not _leaves(root):
        return st.sampled_from(HUGE_TEXTS).map(lambda value: body + value.encode())
    numeric = [bool(_NUMBER.match(leaf.text or "")) for leaf in _leaves(root)]

    def replace(changes: list[tuple[int, int]]) -> bytes:
        tree = _tree(body)
        assert tree is not None
        leaves = _leaves(tree)
        for index, pick in changes:
            values = HUGE_NUMBERS if numeric[index] else HUGE_TEXTS
            leaves[index].text = values[pick % len(values)]
        return _serialise(tree)

    changes = st.lists(
        st.tuples(st.integers(0, len(numeric) - 1), st.integers(0, 100)), min_size=1, max_size=3
    )
    return changes.map(replace)


def mutants(
    kind: str, mutate: Callable[[bytes], st.SearchStrategy[bytes]]
) -> st.SearchStrategy[Mutant]:
    def from_base(choice: tuple[str, bool]) -> st.SearchStrategy[Mutant]:
        name, retargeted = choice
        body = (CORPUS / name).read_bytes()
        if retargeted:
            body = retarget(body)
        label = f"{name} (retargeted)" if retargeted else name
        return mutate(body).map(lambda mutated: Mutant(kind, label, mutated))

    bases = st.one_of(st.sampled_from(valid_messages()), st.sampled_from(corpus_names()))
    return st.tuples(bases, st.booleans()).flatmap(from_base)

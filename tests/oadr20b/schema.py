"""The OpenADR 2.0b XSD, read from the files the openleadr wheel ships (``openleadr/schema``).

The package is located, never imported: ``find_spec`` of a top-level name only finds it.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

from lxml import etree

SCHEMA_FILE = "oadr_20b.xsd"


def schema_directory() -> Path:
    spec = importlib.util.find_spec("openleadr")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the openleadr wheel (which ships the 2.0b XSD) is not installed")
    directory = Path(next(iter(spec.submodule_search_locations))) / "schema"
    if not (directory / SCHEMA_FILE).is_file():
        raise RuntimeError(f"no {SCHEMA_FILE} in {directory}")
    return directory


@functools.cache
def xsd() -> etree.XMLSchema:
    # Parsed from its path, so that its xs:include/xs:import of the other files resolve.
    return etree.XMLSchema(etree.parse(str(schema_directory() / SCHEMA_FILE)))


def schema_errors(document: etree._Element) -> list[str]:
    """Every XSD error of ``document``, in document order (empty: valid)."""
    schema = xsd()
    if schema.validate(document):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log]

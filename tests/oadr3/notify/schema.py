"""openadr3.yaml's schemas as a validator (OpenAPI 3.0 rules: ``nullable``), for the
notification bodies and subscription objects the gateway writes; the spec's defects fixed as
the 3.x API's tests fix them (``tests.oadr3.spec``)."""

from __future__ import annotations

import functools
from typing import Any

from openapi_schema_validator import OAS30Validator

from tests.oadr3.spec import spec_document


@functools.cache
def _components() -> dict[str, Any]:
    components: dict[str, Any] = spec_document("http://127.0.0.1")["components"]
    return components


def schema_errors(name: str, value: Any) -> list[str]:
    """Every way ``value`` breaks ``#/components/schemas/{name}``."""
    schema = {"$ref": f"#/components/schemas/{name}", "components": _components()}
    validator = OAS30Validator(schema)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(value)]

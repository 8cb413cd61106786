"""The gateway's one exception tree.

    GatewayError
    ├── ValidationFailed     bad input; carries one FieldError per bad field   (HTTP 422)
    ├── NotFound             an id that does not exist                          (HTTP 404)
    └── Conflict             valid input that clashes with the current state    (HTTP 409)
        ├── AlreadyAnswered  a device answered this invitation before
        ├── AlreadyExists    a unique id is taken
        └── IllegalTransition  a lifecycle move that the transition table forbids

Adapters map this tree to their own codes in one place each (HTTP in ``gateway.http.errors``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    message: str


class GatewayError(Exception):
    code = "gateway_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationFailed(GatewayError):
    code = "validation_failed"

    def __init__(self, errors: list[FieldError]) -> None:
        if not errors:
            raise ValueError("ValidationFailed needs at least one FieldError")
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors

    @classmethod
    def single(cls, field: str, message: str) -> ValidationFailed:
        return cls([FieldError(field, message)])


class NotFound(GatewayError):
    code = "not_found"


class Conflict(GatewayError):
    code = "conflict"


class AlreadyAnswered(Conflict):
    code = "already_answered"


class AlreadyExists(Conflict):
    code = "already_exists"


class IllegalTransition(Conflict):
    code = "illegal_transition"


def raise_if_any(errors: list[FieldError]) -> None:
    if errors:
        raise ValidationFailed(errors)

"""Who may do what in the 3.x API: the two roles and the spec's OAuth2 scopes. Pure rules."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum


class Role(StrEnum):
    VEN = "VEN"
    BL = "BL"  # business logic: the utility's or aggregator's side


class Scope(StrEnum):
    """The scopes of openadr3.yaml's oAuth2ClientCredentials scheme."""

    READ_ALL = "read_all"
    READ_TARGETS = "read_targets"
    READ_VEN_OBJECTS = "read_ven_objects"
    WRITE_PROGRAMS = "write_programs"
    WRITE_EVENTS = "write_events"
    WRITE_REPORTS = "write_reports"
    WRITE_SUBSCRIPTIONS = "write_subscriptions"
    WRITE_VENS = "write_vens"


# The spec: "Only BL can write to programs / events", "only VENs can write to reports".
ALLOWED_SCOPES: dict[Role, frozenset[Scope]] = {
    Role.VEN: frozenset(
        {
            Scope.READ_TARGETS,
            Scope.READ_VEN_OBJECTS,
            Scope.WRITE_REPORTS,
            Scope.WRITE_SUBSCRIPTIONS,
            Scope.WRITE_VENS,
        }
    ),
    Role.BL: frozenset(
        {
            Scope.READ_ALL,
            Scope.READ_TARGETS,
            Scope.READ_VEN_OBJECTS,
            Scope.WRITE_PROGRAMS,
            Scope.WRITE_EVENTS,
            Scope.WRITE_SUBSCRIPTIONS,
            Scope.WRITE_VENS,
        }
    ),
}
DEFAULT_SCOPES: dict[Role, frozenset[Scope]] = {
    Role.VEN: ALLOWED_SCOPES[Role.VEN],
    Role.BL: ALLOWED_SCOPES[Role.BL] - {Scope.READ_TARGETS, Scope.READ_VEN_OBJECTS},
}
# A BL's read_all reads whatever read_targets or read_ven_objects would.
_IMPLIED_BY_READ_ALL = frozenset({Scope.READ_TARGETS, Scope.READ_VEN_OBJECTS})
_BL_ONLY = frozenset({Scope.READ_ALL, Scope.WRITE_PROGRAMS, Scope.WRITE_EVENTS})


def parse_scopes(words: Sequence[str] | str) -> tuple[frozenset[Scope], list[str]]:
    """The known scopes among ``words`` (a list, or space-separated as OAuth2 writes them),
    and the unknown ones."""
    given = words.split() if isinstance(words, str) else words
    known = {s.value for s in Scope}
    return frozenset(Scope(w) for w in given if w in known), [w for w in given if w not in known]


def grants(held: frozenset[Scope], needed: Scope) -> bool:
    return needed in held or (needed in _IMPLIED_BY_READ_ALL and Scope.READ_ALL in held)


def role_of_scopes(scopes: frozenset[Scope]) -> Role:
    """An external issuer's token that names no role: business logic if it holds a scope only
    business logic may hold, else a VEN."""
    return Role.BL if scopes & _BL_ONLY else Role.VEN

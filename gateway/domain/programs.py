"""Programs: the terms under which VENs and devices take part in events. Pure, no I/O.

A program is what OpenADR 2.0b calls a market context and OpenADR 3.x a program: a name, the
market context URI the VENs see, the priority and test flag of its events, how a share of load
to shed maps to a SIMPLE level, how the baseline is measured and whether overlapping events
are refused. One program, ``DEFAULT_PROGRAM_ID``, always exists: what invitations and events
belong to when nobody says otherwise.

Who takes part is the program's ``membership``: ``all`` (every VEN and device, enrolled or
not: the default program's, so today's calls keep working) or ``enrolled`` (only those
enrolled by name).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from gateway.domain.baselines import NO_PARAMETERS, BaselineParameters, parameter_problems
from gateway.domain.baselines import BaselineMethod as BaselineMethod  # re-exported
from gateway.domain.errors import Conflict, FieldError, raise_if_any

DEFAULT_PROGRAM_ID = "default"
DEFAULT_PROGRAM_NAME = "Default program"
PROGRAM_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
MAX_NAME_LENGTH = 128
MAX_MARKET_CONTEXT_LENGTH = 255
MAX_DESCRIPTION_LENGTH = 1000
MAX_PRIORITY = 2**31 - 1  # OpenADR's priority is an xs:unsignedInt; this fits every database
# RFC 3986 absolute-URI: a scheme, ':', then printable ASCII with no space and no fragment.
ABSOLUTE_URI_PATTERN = r"^[A-Za-z][A-Za-z0-9+.-]*:[!-\"$-~]+$"
_ABSOLUTE_URI = re.compile(ABSOLUTE_URI_PATTERN)
SIMPLE_LEVEL_VALUES = range(4)  # the SIMPLE signal's levels: 0 (normal) to 3 (high)
MAX_SHARE_PERCENTAGE = 100.0


class Membership(StrEnum):
    ALL = "all"  # every VEN and device takes part, enrolled or not
    ENROLLED = "enrolled"  # only the VENs and devices enrolled in the program


class SimpleLevel(NamedTuple):
    """Shares of load up to ``upper_bound_percentage`` (inclusive) are sent as ``level``.

    A tuple of these has the shape of ``vtn.mapping.SIMPLE_LEVELS``, which is the default.
    """

    upper_bound_percentage: float
    level: int


# SIMPLE levels by share of load to shed (%): no shed is 0, up to 15 % is 1, up to 40 % is 2,
# above is 3. The default of every program; the 2.0b mapping uses a program's own table.
DEFAULT_SIMPLE_LEVELS: tuple[SimpleLevel, ...] = (
    SimpleLevel(0.0, 0), SimpleLevel(15.0, 1), SimpleLevel(40.0, 2), SimpleLevel(100.0, 3),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ProgramTerms:
    """Everything about a program that the operator sets."""

    name: str
    market_context: str
    description: str = ""
    priority: int = 1
    test_events: bool = False
    simple_levels: tuple[SimpleLevel, ...] = DEFAULT_SIMPLE_LEVELS
    baseline_method: BaselineMethod = BaselineMethod.MEAN_BEFORE_EVENT
    baseline_parameters: BaselineParameters = NO_PARAMETERS  # see gateway.domain.baselines
    refuse_overlap: bool = False
    membership: Membership = Membership.ENROLLED


@dataclass(frozen=True, slots=True)
class Program:
    id: str
    terms: ProgramTerms

    @property
    def is_default(self) -> bool:
        return self.id == DEFAULT_PROGRAM_ID


@dataclass(frozen=True, slots=True)
class ProgramChanges:
    """A partial update: the fields given (not None) replace the program's."""

    name: str | None = None
    market_context: str | None = None
    description: str | None = None
    priority: int | None = None
    test_events: bool | None = None
    simple_levels: tuple[SimpleLevel, ...] | None = None
    baseline_method: BaselineMethod | None = None
    baseline_parameters: BaselineParameters | None = None
    refuse_overlap: bool | None = None
    membership: Membership | None = None


def changed_terms(terms: ProgramTerms, changes: ProgramChanges) -> ProgramTerms:
    """A new baseline method without parameters starts from none: the old method's
    parameters do not carry over to another."""
    given = {f.name: getattr(changes, f.name) for f in fields(changes)}
    changed = {name: value for name, value in given.items() if value is not None}
    method = changes.baseline_method
    if method is not None and method != terms.baseline_method:
        changed.setdefault("baseline_parameters", NO_PARAMETERS)
    return replace(terms, **changed)


# The terms a VEN sees with each event of the program (2.0b: eiMarketContext, priority,
# testEvent, the SIMPLE level); a change of any is a change of its events.
_TERMS_VENS_SEE = ("market_context", "priority", "test_events", "simple_levels")


def vens_see_a_change(before: ProgramTerms, after: ProgramTerms) -> bool:
    """Whether going from ``before`` to ``after`` changes what VENs are sent with its events."""
    return any(getattr(before, name) != getattr(after, name) for name in _TERMS_VENS_SEE)


def default_program_terms(market_context: str, priority: int, test_events: bool) -> ProgramTerms:
    """The default program as first made: everyone takes part, the given 2.0b values."""
    return ProgramTerms(
        name=DEFAULT_PROGRAM_NAME,
        market_context=market_context,
        description="Invitations and events that name no program belong here.",
        priority=priority,
        test_events=test_events,
        membership=Membership.ALL,
    )


def market_context_problem(value: str) -> str | None:
    """Why ``value`` cannot be a market context, or None: it must be an absolute URI."""
    if len(value) > MAX_MARKET_CONTEXT_LENGTH:
        return f"must be at most {MAX_MARKET_CONTEXT_LENGTH} characters"
    if not _ABSOLUTE_URI.fullmatch(value):
        return "must be an absolute URI (scheme:rest, no spaces, no #fragment)"
    return None


def check_program_id(program_id: str) -> list[FieldError]:
    if PROGRAM_ID_PATTERN.fullmatch(program_id):
        return []
    return [FieldError("id", "must be 1-64 characters of letters, digits, '.', '_', ':' or '-'")]


def simple_levels_problems(levels: Sequence[SimpleLevel]) -> list[FieldError]:
    """The table must cover every share 0-100 % once, each row raising bound and level."""
    field = "simple_levels"
    if not levels:
        return [FieldError(field, "needs at least one row")]
    errors: list[FieldError] = []
    previous: SimpleLevel | None = None
    for n, row in enumerate(levels):
        where = f"{field}.{n}"
        if not 0 <= row.upper_bound_percentage <= MAX_SHARE_PERCENTAGE:
            errors.append(FieldError(f"{where}.upper_bound_percentage", "must be 0-100"))
        if row.level not in SIMPLE_LEVEL_VALUES:
            errors.append(FieldError(f"{where}.level", "must be 0, 1, 2 or 3"))
        if previous is not None and row.upper_bound_percentage <= previous.upper_bound_percentage:
            errors.append(
                FieldError(f"{where}.upper_bound_percentage", "must be above the row before")
            )
        if previous is not None and row.level <= previous.level:
            errors.append(FieldError(f"{where}.level", "must be above the row before"))
        previous = row
    if levels[-1].upper_bound_percentage != MAX_SHARE_PERCENTAGE:
        errors.append(
            FieldError(f"{field}.{len(levels) - 1}.upper_bound_percentage", "the last must be 100")
        )
    return errors


def validate_terms(terms: ProgramTerms) -> None:
    """Raise ``ValidationFailed`` naming every bad field of ``terms``."""
    errors: list[FieldError] = []
    if not 1 <= len(terms.name) <= MAX_NAME_LENGTH:
        errors.append(FieldError("name", f"must be 1-{MAX_NAME_LENGTH} characters"))
    if (problem := market_context_problem(terms.market_context)) is not None:
        errors.append(FieldError("market_context", problem))
    if len(terms.description) > MAX_DESCRIPTION_LENGTH:
        errors.append(
            FieldError("description", f"must be at most {MAX_DESCRIPTION_LENGTH} characters")
        )
    if not 0 <= terms.priority <= MAX_PRIORITY:
        errors.append(FieldError("priority", f"must be 0-{MAX_PRIORITY}"))
    errors += simple_levels_problems(terms.simple_levels)
    errors += parameter_problems(terms.baseline_method, terms.baseline_parameters)
    raise_if_any(errors)


def takes_part(membership: Membership, enrolled: bool) -> bool:
    """Whether a VEN or device (``enrolled`` by name or not) takes part in a program."""
    return membership is Membership.ALL or enrolled


def check_no_overlap(
    of: Program, start: datetime, end: datetime, others: Iterable[tuple[str, datetime, datetime]]
) -> None:
    """Refuse an event over [start, end) when ``of`` refuses overlaps and one of ``others``
    (its open events: id, start, end) shares some of that time; touching ends do not."""
    if not of.terms.refuse_overlap:
        return
    clashing = sorted(other for other, s, e in others if s < end and start < e)
    if clashing:
        raise Conflict(
            f"program {of.id} refuses overlapping events; this one overlaps {', '.join(clashing)}"
        )


def check_deletable(program_id: str, invitations: int, events: int) -> None:
    """The default program stays; so does one that invitations or events belong to."""
    if program_id == DEFAULT_PROGRAM_ID:
        raise Conflict(f"program {program_id} is the default program and cannot be deleted")
    if invitations or events:
        raise Conflict(
            f"program {program_id} has {invitations} invitation(s) and {events} event(s); "
            "a program that invitations or events belong to cannot be deleted"
        )

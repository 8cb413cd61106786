"""Request bodies of the programs admin API (``gateway.domain.programs`` checks the rules)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from gateway.domain.programs import (
    ABSOLUTE_URI_PATTERN,
    DEFAULT_SIMPLE_LEVELS,
    MAX_DESCRIPTION_LENGTH,
    MAX_MARKET_CONTEXT_LENGTH,
    MAX_NAME_LENGTH,
    MAX_PRIORITY,
    MAX_SHARE_PERCENTAGE,
    PROGRAM_ID_PATTERN,
    SIMPLE_LEVEL_VALUES,
    BaselineMethod,
    Membership,
    ProgramChanges,
    ProgramTerms,
    SimpleLevel,
)
from gateway.http.schemas import Body, JsonInt, Stated, Text

MarketContext = Annotated[
    str,
    Field(min_length=1, max_length=MAX_MARKET_CONTEXT_LENGTH),
    Stated(pattern=ABSOLUTE_URI_PATTERN),
]
Priority = Annotated[JsonInt, Stated(minimum=0, maximum=MAX_PRIORITY)]
Description = Annotated[Text, Field(max_length=MAX_DESCRIPTION_LENGTH)]


class SimpleLevelBody(Body):
    upper_bound_percentage: Annotated[float, Stated(minimum=0, maximum=MAX_SHARE_PERCENTAGE)]
    level: Annotated[
        JsonInt, Stated(minimum=SIMPLE_LEVEL_VALUES[0], maximum=SIMPLE_LEVEL_VALUES[-1])
    ]


# Rows raise both bound and level, and the last bound is 100 (checked by the domain).
SimpleLevels = Annotated[
    list[SimpleLevelBody], Stated(minItems=1, maxItems=len(SIMPLE_LEVEL_VALUES))
]
SIMPLE_LEVELS_TEXT = (
    "share of load to shed (%) -> SIMPLE level: rows with rising upper bounds (inclusive) and "
    "rising levels 0-3, the last bound 100"
)


# Fields of the bodies that are not plain program terms: converted (or, the id, not a term).
_NOT_TERMS = frozenset({"id", "simple_levels"})


def _plain_terms(body: Body) -> dict[str, Any]:
    return {name: getattr(body, name) for name in type(body).model_fields if name not in _NOT_TERMS}


def _levels(rows: list[SimpleLevelBody]) -> tuple[SimpleLevel, ...]:
    return tuple(SimpleLevel(row.upper_bound_percentage, row.level) for row in rows)


class ProgramCreate(Body):
    id: str | None = Field(
        default=None, pattern=PROGRAM_ID_PATTERN.pattern, description="default: generated"
    )
    name: Text = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    market_context: MarketContext = Field(description="an absolute URI, unique")
    description: Description = ""
    priority: Priority = 1
    test_events: bool = Field(default=False, description="mark its events testEvent")
    simple_levels: SimpleLevels | None = Field(
        default=None, description=f"{SIMPLE_LEVELS_TEXT}; default: 0/15/40/100 % -> 0/1/2/3"
    )
    baseline_method: BaselineMethod = BaselineMethod.MEAN_BEFORE_EVENT
    refuse_overlap: bool = Field(
        default=False, description="refuse an event that overlaps another of this program"
    )
    membership: Membership = Field(
        default=Membership.ENROLLED,
        description="all: every VEN and device takes part; enrolled: only those enrolled",
    )

    def terms(self) -> ProgramTerms:
        given = self.simple_levels
        levels = DEFAULT_SIMPLE_LEVELS if given is None else _levels(given)
        return ProgramTerms(**_plain_terms(self), simple_levels=levels)


class ProgramUpdate(Body):
    """Fields left out (or null) keep their current value."""

    name: Text | None = Field(default=None, min_length=1, max_length=MAX_NAME_LENGTH)
    market_context: MarketContext | None = None
    description: Description | None = None
    priority: Priority | None = None
    test_events: bool | None = None
    simple_levels: SimpleLevels | None = Field(default=None, description=SIMPLE_LEVELS_TEXT)
    baseline_method: BaselineMethod | None = None
    refuse_overlap: bool | None = None
    membership: Membership | None = None

    def changes(self) -> ProgramChanges:
        given = self.simple_levels
        levels = None if given is None else _levels(given)
        return ProgramChanges(**_plain_terms(self), simple_levels=levels)

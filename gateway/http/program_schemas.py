"""Request bodies of the programs admin API (``gateway.domain.programs`` checks the rules)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import Field

from gateway.domain.baselines import (
    MAX_HOLIDAYS,
    MAX_LOOKBACK_DAYS,
    MAX_SELECTION_DAYS,
    MAX_WINDOW_HOURS,
    AdjustmentKind,
    BaselineParameters,
)
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


Days = Annotated[JsonInt, Stated(minimum=1, maximum=MAX_SELECTION_DAYS)]
Hours = Annotated[float, Stated(minimum=0, maximum=MAX_WINDOW_HOURS)]


class BaselineParametersBody(Body):
    """A day-matching baseline's parameters; each given overrides the preset's (the ranges
    between fields, such as highest <= of, are checked by ``gateway.domain.baselines``)."""

    weekday_highest: Days | None = Field(default=None, description="keep the highest X days")
    weekday_of: Days | None = Field(default=None, description="of the last Y eligible weekdays")
    weekend_highest: Days | None = None
    weekend_of: Days | None = Field(
        default=None, description="of the last Y eligible weekend days or holidays"
    )
    lookback_days: Annotated[JsonInt, Stated(minimum=1, maximum=MAX_LOOKBACK_DAYS)] | None = Field(
        default=None, description="calendar days searched back for eligible days"
    )
    min_share: Annotated[float, Stated(exclusiveMinimum=0, maximum=1)] | None = Field(
        default=None, description="share of an interval measured for it to count"
    )
    adjustment: AdjustmentKind | None = Field(default=None, description="same-day adjustment")
    adjustment_window_hours: Hours | None = Field(
        default=None, description="hours of the adjustment window"
    )
    adjustment_gap_hours: Hours | None = Field(
        default=None, description="the window ends this long before the start"
    )
    adjustment_cap: Annotated[float, Stated(minimum=0, maximum=10)] | None = Field(
        default=None, description="largest adjustment, a share of the window's baseline (0.2)"
    )
    holidays: Annotated[list[date], Stated(maxItems=MAX_HOLIDAYS)] | None = Field(
        default=None, description="the holiday calendar (local dates): days of the weekend type"
    )

    def parameters(self) -> BaselineParameters:
        values = {name: getattr(self, name) for name in type(self).model_fields}
        if self.holidays is not None:
            values["holidays"] = tuple(sorted(set(self.holidays)))
        return BaselineParameters(**values)


BASELINE_PARAMETERS_TEXT = (
    "overrides of the method's preset (day_matching: the selection and lookback are needed); "
    "see docs/baselines.md"
)


# Fields of the bodies that are not plain program terms: converted (or, the id, not a term).
_NOT_TERMS = frozenset({"id", "simple_levels", "baseline_parameters"})


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
    baseline_parameters: BaselineParametersBody | None = Field(
        default=None, description=BASELINE_PARAMETERS_TEXT
    )
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
        body = self.baseline_parameters
        parameters = BaselineParameters() if body is None else body.parameters()
        return ProgramTerms(
            **_plain_terms(self), simple_levels=levels, baseline_parameters=parameters
        )


class ProgramUpdate(Body):
    """Fields left out (or null) keep their current value."""

    name: Text | None = Field(default=None, min_length=1, max_length=MAX_NAME_LENGTH)
    market_context: MarketContext | None = None
    description: Description | None = None
    priority: Priority | None = None
    test_events: bool | None = None
    simple_levels: SimpleLevels | None = Field(default=None, description=SIMPLE_LEVELS_TEXT)
    baseline_method: BaselineMethod | None = None
    baseline_parameters: BaselineParametersBody | None = Field(
        default=None, description=f"{BASELINE_PARAMETERS_TEXT}; replaces the program's whole set"
    )
    refuse_overlap: bool | None = None
    membership: Membership | None = None

    def changes(self) -> ProgramChanges:
        given = self.simple_levels
        levels = None if given is None else _levels(given)
        parameters = self.baseline_parameters
        return ProgramChanges(
            **_plain_terms(self),
            simple_levels=levels,
            baseline_parameters=None if parameters is None else parameters.parameters(),
        )

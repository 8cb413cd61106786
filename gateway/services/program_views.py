"""Programs as the admin API shows them, and the conversions between rows and domain terms."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from typing import Any

from pydantic import AwareDatetime, Field

from gateway.db.models import ProgramRow
from gateway.domain.baselines import BaselineParameters, resolve
from gateway.domain.programs import (
    DEFAULT_PROGRAM_ID,
    BaselineMethod,
    Membership,
    Program,
    ProgramTerms,
    SimpleLevel,
)
from gateway.services.views import View

_TERMS = [f.name for f in fields(ProgramTerms)]


def program_of(row: ProgramRow) -> Program:
    stored = {name: getattr(row, name) for name in _TERMS}
    terms = ProgramTerms(
        **{
            **stored,
            "simple_levels": tuple(SimpleLevel(float(b), int(lv)) for b, lv in row.simple_levels),
            "baseline_method": BaselineMethod(row.baseline_method),
            "baseline_parameters": BaselineParameters.from_json(row.baseline_parameters),
            "membership": Membership(row.membership),
        }
    )
    return Program(id=row.id, terms=terms)


def write_terms(row: ProgramRow, terms: ProgramTerms) -> None:
    for name in _TERMS:
        setattr(row, name, getattr(terms, name))
    row.simple_levels = [[bound, level] for bound, level in terms.simple_levels]
    row.baseline_parameters = terms.baseline_parameters.as_json() or None


class SimpleLevelView(View):
    upper_bound_percentage: float = Field(description="shares of load up to this % (inclusive)")
    level: int = Field(description="are sent as this SIMPLE level (0-3)")


class ProgramView(View):
    id: str
    name: str
    market_context: str = Field(description="the OpenADR marketContext (2.0b) of its events")
    description: str
    priority: int
    test_events: bool = Field(description="its events are marked testEvent")
    simple_levels: list[SimpleLevelView]
    baseline_method: BaselineMethod
    baseline_parameters: dict[str, Any] = Field(
        description="what the program sets of its baseline method (overrides of a preset)"
    )
    baseline_in_force: dict[str, Any] | None = Field(
        description="every parameter of the day-matching baseline in force (the preset with "
        "the program's overrides); null for mean_before_event"
    )
    refuse_overlap: bool = Field(description="an event overlapping another of its own is refused")
    membership: Membership = Field(
        description="all: every VEN and device takes part; enrolled: only those listed"
    )
    is_default: bool = Field(description="invitations and events that name no program get it")
    vens: list[str] = Field(description="VENs enrolled by name")
    devices: list[str] = Field(description="devices enrolled by name")
    created_at: AwareDatetime
    updated_at: AwareDatetime

    @classmethod
    def of(cls, row: ProgramRow, vens: Sequence[str], devices: Sequence[str]) -> ProgramView:
        terms = program_of(row).terms
        plain = {
            name: getattr(terms, name)
            for name in _TERMS
            if name not in ("simple_levels", "baseline_parameters")
        }
        in_force = resolve(terms.baseline_method, terms.baseline_parameters)
        return cls(
            **plain,
            baseline_parameters=terms.baseline_parameters.as_json(),
            baseline_in_force=None if in_force is None else in_force.as_json(),
            simple_levels=[SimpleLevelView(**level._asdict()) for level in terms.simple_levels],
            id=row.id,
            is_default=row.id == DEFAULT_PROGRAM_ID,
            vens=sorted(vens),
            devices=sorted(devices),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

"""The program rules of ``gateway.domain.programs``: pure, no database."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from gateway.domain.errors import Conflict, ValidationFailed
from gateway.domain.programs import (
    DEFAULT_SIMPLE_LEVELS,
    Membership,
    Program,
    ProgramChanges,
    ProgramTerms,
    SimpleLevel,
    changed_terms,
    check_deletable,
    check_no_overlap,
    check_program_id,
    default_program_terms,
    market_context_problem,
    simple_levels_problems,
    takes_part,
    validate_terms,
)

TERMS = ProgramTerms(name="Peak", market_context="urn:peak")


def fields_of(terms: ProgramTerms) -> set[str]:
    with pytest.raises(ValidationFailed) as caught:
        validate_terms(terms)
    return {e.field for e in caught.value.errors}


def test_the_default_table_is_today_s_fixed_one() -> None:
    assert DEFAULT_SIMPLE_LEVELS == ((0.0, 0), (15.0, 1), (40.0, 2), (100.0, 3))
    assert simple_levels_problems(DEFAULT_SIMPLE_LEVELS) == []


@pytest.mark.parametrize(
    "uri",
    ["oadr://oadr-gateway/program", "http://MarketContext1", "urn:example:dr:7",
     "https://u.example/p?x=1&y=%20", "x:y"],
)  # fmt: skip
def test_absolute_uris_are_market_contexts(uri: str) -> None:
    assert market_context_problem(uri) is None
    validate_terms(replace(TERMS, market_context=uri))


@pytest.mark.parametrize(
    "uri",
    ["program", "/programs/peak", "//host/p", "1http://x", "http://a b", "http://a#f", "urn:",
     "http://caf\u00e9", "x:" + "y" * 254],
)  # fmt: skip
def test_other_text_is_not_a_market_context(uri: str) -> None:
    assert market_context_problem(uri) is not None
    assert fields_of(replace(TERMS, market_context=uri)) == {"market_context"}


@pytest.mark.parametrize(
    ("rows", "fields"),
    [
        ((), {"simple_levels"}),
        (((100.0, 3),), set()),
        (((0.0, 0), (100.0, 1)), set()),
        (((50.0, 1),), {"simple_levels.0.upper_bound_percentage"}),
        (((40.0, 1), (40.0, 2), (100.0, 3)), {"simple_levels.1.upper_bound_percentage"}),
        (((40.0, 2), (100.0, 1)), {"simple_levels.1.level"}),
        (((40.0, 2), (100.0, 2)), {"simple_levels.1.level"}),
        (((-1.0, 0), (100.0, 4)), {"simple_levels.0.upper_bound_percentage",
                                   "simple_levels.1.level"}),
        (((100.5, 3),), {"simple_levels.0.upper_bound_percentage"}),
    ],
)  # fmt: skip
def test_a_simple_level_table_rises_to_100_percent(
    rows: tuple[tuple[float, int], ...], fields: set[str]
) -> None:
    levels = tuple(SimpleLevel(*row) for row in rows)
    assert {e.field for e in simple_levels_problems(levels)} == fields


def test_every_bad_field_is_named_at_once() -> None:
    bad = ProgramTerms(
        name="", market_context="peak", description="d" * 1001, priority=-1,
        simple_levels=(SimpleLevel(50.0, 1),),
    )  # fmt: skip
    assert fields_of(bad) == {
        "name", "market_context", "description", "priority",
        "simple_levels.0.upper_bound_percentage",
    }  # fmt: skip
    assert fields_of(replace(TERMS, priority=2**31)) == {"priority"}
    validate_terms(replace(TERMS, priority=2**31 - 1, name="n" * 128))


def test_changes_replace_only_the_fields_given() -> None:
    changed = changed_terms(TERMS, ProgramChanges(priority=0, description="", test_events=False))
    assert changed == replace(TERMS, priority=0, description="", test_events=False)
    assert changed_terms(TERMS, ProgramChanges()) == TERMS


def test_program_ids() -> None:
    assert check_program_id("peak-2030.winter:a_b") == []
    assert [e.field for e in check_program_id("")] == ["id"]
    assert [e.field for e in check_program_id("a/b")] == ["id"]
    assert [e.field for e in check_program_id("x" * 65)] == ["id"]


def test_who_takes_part() -> None:
    assert takes_part(Membership.ALL, enrolled=False)
    assert takes_part(Membership.ALL, enrolled=True)
    assert takes_part(Membership.ENROLLED, enrolled=True)
    assert not takes_part(Membership.ENROLLED, enrolled=False)


def test_the_default_program_enrols_everyone_with_the_values_given() -> None:
    terms = default_program_terms("urn:x", 5, True)
    assert (terms.market_context, terms.priority, terms.test_events) == ("urn:x", 5, True)
    assert terms.membership is Membership.ALL
    validate_terms(terms)


def test_overlapping_events_are_refused_only_where_the_program_says_so() -> None:
    t = datetime(2030, 1, 1, 17, 0, tzinfo=UTC)
    others = [
        ("e-before", t - timedelta(hours=1), t),
        ("e-inside", t + timedelta(minutes=50), t + timedelta(hours=2)),
        ("e-after", t + timedelta(hours=1), t + timedelta(hours=3)),
    ]
    refusing = Program("peak", replace(TERMS, refuse_overlap=True))
    check_no_overlap(Program("peak", TERMS), t, t + timedelta(hours=1), others)
    check_no_overlap(refusing, t, t + timedelta(minutes=50), others)  # ends touch: no overlap
    with pytest.raises(Conflict, match=r"overlaps e-inside$"):
        check_no_overlap(refusing, t, t + timedelta(hours=1), others)
    with pytest.raises(Conflict, match=r"overlaps e-after, e-before, e-inside$"):
        check_no_overlap(refusing, t - timedelta(minutes=1), t + timedelta(hours=2), others)


def test_what_may_be_deleted() -> None:
    check_deletable("peak", invitations=0, events=0)
    with pytest.raises(Conflict, match="default program"):
        check_deletable("default", invitations=0, events=0)
    with pytest.raises(Conflict, match="1 invitation"):
        check_deletable("peak", invitations=1, events=0)
    with pytest.raises(Conflict, match="2 event"):
        check_deletable("peak", invitations=0, events=2)

"""Parsing FHIR search parameters into the neutral structure, and the promise that every
parameter parsed has its SQL (`api.services.fhir_search`)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from api.services.fhir_search import uncovered
from integrations.fhir.search import (
    MAX_COUNT,
    Canonical,
    DateRange,
    Reference,
    SearchError,
    Text,
    Token,
    parse_date,
    parse_search,
)


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # a partial date is the whole of what it names, end excluded
        ("2026", DateRange("eq", at(2026, 1, 1), at(2027, 1, 1))),
        ("2026-12", DateRange("eq", at(2026, 12, 1), at(2027, 1, 1))),  # December rolls the year
        ("2026-02", DateRange("eq", at(2026, 2, 1), at(2026, 3, 1))),
        ("ge2026-11-28", DateRange("ge", at(2026, 11, 28), at(2026, 11, 29))),
        ("lt2026-11-28T10:15", DateRange("lt", at(2026, 11, 28, 10, 15), at(2026, 11, 28, 10, 16))),
        ("2026-11-28T10:15:30Z", DateRange("eq", at(2026, 11, 28, 10, 15, 30), at(2026, 11, 28, 10, 15, 31))),
        # +02:00 is two hours ahead of UTC: 10:00 there is 08:00 UTC
        ("sa2026-11-28T10:00:00+02:00", DateRange("sa", at(2026, 11, 28, 8), at(2026, 11, 28, 8, 0, 1))),
        # milliseconds: a range of one millisecond
        ("2026-11-28T10:00:00.250Z", DateRange("eq", at(2026, 11, 28, 10, 0, 0, 250000), at(2026, 11, 28, 10, 0, 0, 251000))),
    ],
)  # fmt: skip
def test_dates_are_the_ranges_they_imply(value, expected):
    assert parse_date(value) == expected


@pytest.mark.parametrize("value", ["26-11", "2026-13", "2026-02-29", "2026-11-28T25:00", "ap2026"])
def test_impossible_dates_are_refused(value):
    with pytest.raises(SearchError):
        parse_date(value)


def test_tokens_references_strings_and_canonicals():
    search = parse_search(
        "QuestionnaireResponse",
        [
            ("status", "completed,amended"),
            ("subject", "Patient/abc"),
            ("questionnaire", "https://q.example/phq|2.0"),
            ("questionnaire", "https://q.example/gad"),
        ],
    )
    values = [clause.values for clause in search.clauses]
    assert values == [
        (Token(None, "completed"), Token(None, "amended")),
        (Reference("Patient", "abc"),),
        (Canonical("https://q.example/phq", "2.0"),),
        (Canonical("https://q.example/gad", None),),
    ]
    patient = parse_search(
        "Patient",
        [("identifier", "|A1"), ("identifier", r"https://x\|y|B\,2"), ("name:contains", "ash")],
    )
    assert [c.values for c in patient.clauses] == [
        (Token("", "A1"),),  # |code: no system at all
        (Token("https://x|y", "B,2"),),  # escaped | and , stay in the value
        (Text("ash", "contains"),),
    ]


def test_result_parameters():
    search = parse_search(
        "Task", [("_count", "5000"), ("_sort", "-modified"), ("_summary", "count")]
    )
    assert search.count == MAX_COUNT  # capped
    assert (search.sort.parameter, search.sort.descending) == ("modified", True)
    assert search.summary_count


def test_unknown_parameters_are_reported_or_refused():
    lenient = parse_search("Patient", [("nickname", "x"), ("name", "Rob")])
    assert lenient.ignored == ("nickname",)
    assert lenient.given == (("name", "Rob"),)
    with pytest.raises(SearchError) as refused:
        parse_search("Patient", [("nickname", "x")], strict=True)
    assert refused.value.parameter == "nickname"


def test_a_reference_to_the_wrong_type_is_refused():
    with pytest.raises(SearchError, match="Patient, not Group"):
        parse_search("Observation", [("subject", "Group/1")])


def test_every_parameter_parsed_has_its_sql():
    assert uncovered() == []

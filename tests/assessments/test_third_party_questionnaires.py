"""The core reads Questionnaires it did not write: the LHC-Forms fixtures, unmodified on disk.

A clinic may pair a standard instrument with a Tandem scoring spec; here the
PHQ-9 is scored as the sum of its nine item ordinals (0-3 each), with the
published severity bands 0-4 / 5-9 / 10-14 / 15-19 / 20-27.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from assessments import Instrument, QuestionnaireDefinition, score_response, validate_response

FIXTURES = Path(__file__).parents[1] / "fixtures" / "lforms"
LOINC = "http://loinc.org"
PHQ9_ITEMS = [
    "/44250-9", "/44255-8", "/44259-0", "/44254-1", "/44251-7",
    "/44258-2", "/44252-5", "/44253-3", "/44260-8",
]  # fmt: skip
# LOINC answer codes of the PHQ-9 frequency scale, by ordinal 0..3
FREQUENCY = ["LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"]
URL = "https://tests.tandem.dev/Questionnaire/phq-9"


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def phq9_instrument() -> Instrument:
    questionnaire = load("phq9.json") | {"url": URL, "version": "lforms-2026"}

    def band(code: str, low: int, high: int) -> dict[str, Any]:
        return {"code": code, "label": code, "interpretation": code, "ge": low, "le": high}

    spec = {
        "instrument": {"slug": "phq-9", "url": URL, "version": "lforms-2026"},
        "scales": [
            {
                "code": "total",
                "label": "PHQ-9 total",
                "description": "Sum of the nine item ordinals",
                "method": "sum",
                "items": PHQ9_ITEMS,
                "min_answered": "1",
                "decimals": 0,
                "direction": "lower-is-better",
                "cutoff": 10,
                "bands": [
                    band("minimal", 0, 4),
                    band("mild", 5, 9),
                    band("moderate", 10, 14),
                    band("moderately-severe", 15, 19),
                    band("severe", 20, 27),
                ],
            }
        ],
    }
    return Instrument.from_documents(questionnaire, spec)


def phq9_response(ordinals: list[int], total: int | None = None) -> dict[str, Any]:
    items = [
        {"linkId": link_id, "answer": [{"valueCoding": {"system": LOINC, "code": FREQUENCY[o]}}]}
        for link_id, o in zip(PHQ9_ITEMS, ordinals, strict=True)
    ]
    if total is not None:
        items.append({"linkId": "/44261-6", "answer": [{"valueDecimal": total}]})
    return {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": f"{URL}|lforms-2026",
        "status": "completed",
        "item": items,
    }


@pytest.mark.parametrize(
    "name",
    [
        "phq9.json",
        "phq9-with-the-weight-function.json",
        "apgar-with-itemWeight-variable.json",
        "enableWhenOnCalculatedValueFromFHIRPath.json",
        "q-with-contained-valueset-with-itemWeight.json",
    ],
)
def test_every_fixture_reads_as_a_questionnaire(name):
    definition = QuestionnaireDefinition.from_fhir(load(name))
    assert definition.items


def test_item_weight_extensions_are_ordinal_values():
    apgar = QuestionnaireDefinition.from_fhir(load("apgar-with-itemWeight-variable.json"))
    assert [o.ordinal for o in apgar.by_link_id["32406-1"].options] == [0, 1, 2]


@pytest.mark.parametrize(
    ("ordinals", "total", "band"),
    [
        ([0] * 9, 0, "minimal"),  # every answer "Not at all": 0, as the LHC-Forms test expects
        ([1, 1, 1, 1, 0, 0, 0, 0, 0], 4, "minimal"),  # 1+1+1+1 = 4, top of minimal
        ([1, 1, 1, 1, 1, 0, 0, 0, 0], 5, "mild"),  # 5 x 1 = 5
        ([2, 2, 2, 2, 2, 0, 0, 0, 0], 10, "moderate"),  # 5 x 2 = 10, the cut-off
        ([3, 3, 3, 3, 3, 2, 2, 0, 0], 19, "moderately-severe"),  # 15 + 4 = 19
        ([3] * 9, 27, "severe"),  # 9 x 3 = 27
    ],
)
def test_phq9_total_is_the_sum_of_item_ordinals(ordinals, total, band):
    score = score_response(phq9_instrument(), phq9_response(ordinals)).score("total")
    assert (score.value, score.band, score.min, score.max) == (total, band, 0, 27)


def test_a_total_carried_in_the_response_is_recomputed_not_trusted():
    response = phq9_response([0] * 9, total=27)
    assert score_response(phq9_instrument(), response).score("total").value == 0


def test_phq9_validation_uses_its_own_required_flags_and_options():
    response = phq9_response([0] * 9)
    response["item"][0]["answer"][0]["valueCoding"]["code"] = "LA0000-0"
    del response["item"][8]  # /44260-8 is not required in this Questionnaire
    del response["item"][7]  # /44253-3 is
    problems = validate_response(phq9_instrument().definition, response)
    assert [(p.code, p.link_id) for p in problems] == [
        ("not-an-option", "/44250-9"),
        ("required", "/44253-3"),
    ]

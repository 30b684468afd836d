"""The built-in instruments: valid FHIR R4, consistent with their scoring specs, and loadable."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path

import pytest
from fhir.resources.R4B.questionnaire import Questionnaire

from assessments import Instrument, InstrumentError, builtin_instruments, catalogue, load_builtin

ORDINAL = "http://hl7.org/fhir/StructureDefinition/ordinalValue"


def test_the_built_ins_are_the_balance_assessment_the_homework_log_and_the_check_in():
    assert [(i.slug, i.version) for i in builtin_instruments()] == [
        ("balance-assessment", "1.0.0"),
        ("homework-log", "1.0.0"),
        ("weekly-check-in", "1.0.0"),
    ]


@pytest.mark.parametrize("instrument", builtin_instruments(), ids=lambda i: i.slug)
def test_built_in_questionnaires_are_valid_fhir_r4(instrument):
    parsed = Questionnaire.model_validate(instrument.questionnaire)
    assert parsed.url == instrument.url
    assert parsed.version == instrument.version
    assert parsed.status == "active"


@pytest.mark.parametrize("instrument", builtin_instruments(), ids=lambda i: i.slug)
def test_every_choice_option_carries_an_ordinal_value(instrument):
    for item in instrument.definition.walk():
        if item.type == "choice":
            assert item.options, item.link_id
            assert all(option.ordinal is not None for option in item.options), item.link_id


def test_balance_assessment_shape():
    balance = load_builtin("balance-assessment")
    questions = [i for i in balance.definition.walk() if i.is_question]
    assert len(questions) == 25  # 23 agreement statements + the two-item closeness ladder
    scales = {s.code: s for s in balance.scoring.scales}
    assert {code: len(s.items) for code, s in scales.items() if s.method == "mean"} == {
        "closeness": 6,
        "autonomy": 6,
        "enmeshment": 5,
        "detachment": 6,
    }
    assert {code: s.reverse for code, s in scales.items() if s.reverse} == {
        "closeness": ["closeness-5", "closeness-6"],
        "autonomy": ["autonomy-5", "autonomy-6"],
        "enmeshment": ["enmeshment-5"],
        "detachment": ["detachment-6"],
    }
    statements = balance.definition.by_link_id["statements"].children
    agreement = [[o.ordinal for o in s.options] for s in statements]
    assert all(ordinals == [1, 2, 3, 4, 5] for ordinals in agreement)
    ladder = [o.ordinal for o in balance.definition.by_link_id["gap-now"].options]
    assert ladder == [1, 2, 3, 4, 5, 6, 7]


def test_check_in_has_at_most_eight_top_level_questions():
    check_in = load_builtin("weekly-check-in")
    asked = [i for i in check_in.definition.items if i.type != "display"]
    assert len(asked) == 8
    assert check_in.scoring.private_items == ["need", "safety"]


@pytest.mark.parametrize(
    "reference",
    [
        "balance-assessment",
        "https://tandem.dev/fhir/Questionnaire/balance-assessment",
        "https://tandem.dev/fhir/Questionnaire/balance-assessment|1.0.0",
    ],
)
def test_load_by_slug_url_or_canonical(reference):
    assert load_builtin(reference).canonical == (
        "https://tandem.dev/fhir/Questionnaire/balance-assessment|1.0.0"
    )


def test_without_a_version_the_latest_is_loaded(monkeypatch):
    balance = load_builtin("balance-assessment")
    spec = balance.scoring.instrument.model_copy(update={"version": "1.10.0"})
    later = replace(balance, scoring=balance.scoring.model_copy(update={"instrument": spec}))
    # builtin_instruments() orders versions oldest first (1.10.0 after 1.9.0, by version_key)
    monkeypatch.setattr(catalogue, "builtin_instruments", lambda: (balance, later))
    references = catalogue._builtin_references.__wrapped__()
    assert references["balance-assessment"] is later
    assert references[balance.url] is later
    assert references[f"{balance.url}|1.0.0"] is balance
    assert references["balance-assessment|1.10.0"] is later


def test_loading_an_unknown_version_fails():
    with pytest.raises(KeyError, match=r"balance-assessment\|9\.9\.9"):
        load_builtin("balance-assessment|9.9.9")


# Cross-checks between a Questionnaire and its spec


@pytest.fixture
def documents():
    balance = load_builtin("balance-assessment")
    return copy.deepcopy(balance.questionnaire), balance.scoring.model_dump(mode="json")


def test_a_consistent_pair_loads(documents):
    assert Instrument.from_documents(*documents).slug == "balance-assessment"


def test_spec_naming_unknown_items_and_scales_is_refused(documents):
    questionnaire, spec = documents
    spec["scales"][0]["items"][0] = "closeness-99"
    spec["scales"][5]["scales"] = ["detachment", "warmth"]
    spec["private_items"] = ["diary"]
    with pytest.raises(InstrumentError) as raised:
        Instrument.from_documents(questionnaire, spec)
    assert raised.value.defects == [
        "scale 'closeness': item 'closeness-99' is not in the Questionnaire",
        "scale 'balance-position': scale 'warmth' must be defined before it",
        "private item 'diary' is not in the Questionnaire",
    ]


def test_spec_for_another_version_is_refused(documents):
    questionnaire, spec = documents
    questionnaire["version"] = "1.1.0"
    with pytest.raises(
        InstrumentError, match=r"scoring is for .*\|1.0.0 but the Questionnaire is .*\|1.1.0"
    ):
        Instrument.from_documents(questionnaire, spec)


def test_items_without_ordinal_values_cannot_be_scored(documents):
    questionnaire, spec = documents
    option = questionnaire["item"][1]["item"][0]["answerOption"][2]
    option["extension"] = [e for e in option["extension"] if e["url"] != ORDINAL]
    with pytest.raises(InstrumentError) as raised:
        Instrument.from_documents(questionnaire, spec)
    assert raised.value.defects == [
        "scale 'closeness': item 'closeness-1' has no numeric values (ordinalValue on every "
        "option, or min and max)"
    ]


def test_bands_with_a_gap_or_an_overlap_are_refused(documents):
    questionnaire, spec = documents
    detachment = spec["scales"][3]["bands"]
    detachment[1]["ge"] = 45  # some-signs now starts at 45: 40 to 44.9 fall in no band
    autonomy = spec["scales"][1]["bands"]
    autonomy[2]["ge"] = 65  # met now starts at 65 while partly-met runs below 70
    with pytest.raises(InstrumentError) as raised:
        Instrument.from_documents(questionnaire, spec)
    assert raised.value.defects == [
        "scale 'autonomy': value 65 falls in 2 bands (partly-met, met)",
        "scale 'autonomy': value 65.1 falls in 2 bands (partly-met, met)",
        "scale 'autonomy': value 69.9 falls in 2 bands (partly-met, met)",
        "scale 'detachment': value 40 falls in 0 bands (none)",
        "scale 'detachment': value 40.1 falls in 0 bands (none)",
        "scale 'detachment': value 44.9 falls in 0 bands (none)",
    ]


def test_malformed_spec_is_refused_with_its_location(documents):
    questionnaire, spec = documents
    spec["scales"][0]["method"] = "median"
    del spec["scales"][1]["min_answered"]
    with pytest.raises(InstrumentError) as raised:
        Instrument.from_documents(questionnaire, spec)
    assert any(d.startswith("scoring scales.0.method:") for d in raised.value.defects)
    assert any("mean needs items and min_answered" in d for d in raised.value.defects)


def test_released_instrument_files_never_change():
    """A released version is immutable: stored responses are read against it forever."""
    import hashlib

    root = Path(__file__).parents[2] / "assessments" / "instruments"
    released = json.loads((root / "released.json").read_text())["versions"]
    on_disk = {
        f"{d.parent.name}/{d.name}": {
            f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(d.glob("*.json"))
        }
        for d in sorted(root.glob("*/*"))
        if d.is_dir()
    }
    assert on_disk == released


@pytest.mark.parametrize("share", ["1/0", "abc", "0", "1.5"])
def test_an_impossible_min_answered_is_refused(documents, share):
    questionnaire, spec = documents
    spec["scales"][0]["min_answered"] = share
    with pytest.raises(InstrumentError, match="min_answered must be a share between 0 and 1"):
        Instrument.from_documents(questionnaire, spec)


def test_a_flag_that_can_never_fire_is_refused():
    check_in = load_builtin("weekly-check-in")
    spec = check_in.scoring.model_dump(mode="json")
    spec["flags"][0]["equals"] = "yes"  # the safety item is boolean: "yes" never matches
    spec["flags"].append(dict(spec["flags"][0], code="stressed", item="stress", equals=True))
    with pytest.raises(InstrumentError) as raised:
        Instrument.from_documents(check_in.questionnaire, spec)
    assert raised.value.defects == [
        "flag 'safety': item 'safety' (boolean) can never be answered 'yes'",
        "flag 'stressed': item 'stress' (choice) can never be answered True",
    ]

"""Whatever arrives, validation answers with problems and scoring with InvalidResponse: never a crash."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assessments import InvalidResponse, score_response, validate_response
from tests.assessments.builders import BALANCE, CHECK_IN, checkin_response

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(
        st.sampled_from(
            ["linkId", "answer", "item", "valueCoding", "valueInteger", "valueBoolean",
             "valueString", "valueDecimal", "code", "system", "status", "questionnaire"]
        ),
        children,
        max_size=4,
    ),
    max_leaves=30,
)  # fmt: skip

link_ids = st.sampled_from(
    ["balance-rating", "closeness", "close-now", "time", "felt-heard", "safety", "need", "x"]
)
answers = st.lists(
    st.dictionaries(
        st.sampled_from(["valueInteger", "valueBoolean", "valueString", "valueCoding", "item"]),
        json_values,
        max_size=2,
    ),
    max_size=3,
)
items = st.recursive(
    st.fixed_dictionaries({"linkId": link_ids, "answer": answers}),
    lambda children: st.fixed_dictionaries(
        {"linkId": link_ids, "item": st.lists(children, max_size=3)}
    ),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=json_values)
def test_any_json_gets_problems_not_an_exception(document):
    problems = validate_response(BALANCE.definition, document)
    assert problems  # nothing random is a valid balance assessment


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    shuffled=items.map(lambda item: [item]), status=st.sampled_from(["completed", "in-progress"])
)
def test_response_shaped_noise_never_crashes_scoring(shuffled, status):
    response = checkin_response(status=status)
    response["item"] = response["item"] + shuffled
    try:
        result = score_response(CHECK_IN, response)
    except InvalidResponse as invalid:
        assert invalid.problems
    else:
        assert status == "completed" and result.scores

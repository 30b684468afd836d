"""A partner's private answers (free text, safety) are removed for anyone but the counsellor."""

from __future__ import annotations

from assessments import redact_private
from tests.assessments.builders import BALANCE, CHECK_IN, balance_response, checkin_response


def link_ids(items):
    for item in items:
        yield item["linkId"]
        yield from link_ids(item.get("item", []))
        for answer in item.get("answer", []):
            yield from link_ids(answer.get("item", []))


def test_redaction_removes_the_need_text_and_the_safety_answer():
    response = checkin_response(need="please stop checking my phone", safety=True)
    redacted = redact_private(CHECK_IN, response)
    assert "need" not in set(link_ids(redacted["item"]))
    assert "safety" not in set(link_ids(redacted["item"]))
    assert "please stop checking my phone" not in repr(redacted)
    kept = [i for i in link_ids(response["item"]) if i not in ("need", "safety")]
    assert list(link_ids(redacted["item"])) == kept


def test_redaction_leaves_the_original_untouched():
    response = checkin_response(need="time alone on Sundays", safety=False)
    redact_private(CHECK_IN, response)
    assert "need" in set(link_ids(response["item"]))


def test_private_items_nested_in_groups_and_answers_are_removed():
    response = checkin_response(safety=True)
    response["item"][1]["item"].append({"linkId": "safety", "answer": [{"valueBoolean": True}]})
    response["item"][0]["answer"][0]["item"] = [
        {"linkId": "need", "answer": [{"valueString": "x"}]}
    ]
    redacted = redact_private(CHECK_IN, response)
    assert {"need", "safety"}.isdisjoint(link_ids(redacted["item"]))


def test_an_instrument_without_private_items_is_returned_whole():
    response = balance_response({"closeness-1": 4})
    assert redact_private(BALANCE, response) == response

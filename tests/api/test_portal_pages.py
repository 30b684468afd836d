"""The portal's pages over HTTP: the link's token exchanged for a session cookie, the cookie's
flags, the headers every page sends, sessions ending with their link, partners kept apart,
forms refused from other origins, the core's validation shown next to each item (enableWhen
enforced by the server), the client's own results and streak, and the translations."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from datetime import date, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import portal_session
from api.i18n import TRANSLATION, catalogues
from api.persistence import ClinicSession, across_clinics, acting_for
from api.services.instruments import resolve_instrument
from api.services.portal_links import issue_link
from api.services.portal_pages import field_ids
from api.settings import Settings
from assessments.plans import Occurrence
from assessments.streaks import current_streak
from schemas import Assignment
from schemas.base import utcnow
from tests.api.factories import link_row
from tests.api.http import Integrator, access_token, new_clinic
from tests.assessments.builders import CHECK_IN

ROOT = Path(__file__).resolve().parents[2]
ORIGIN = "http://127.0.0.1:8000"  # the default TANDEM_PUBLIC_URL's origin
CHECK_IN_IDS = field_ids(CHECK_IN.definition)
TOGETHER = "https://tests.tandem.dev/Questionnaire/together"


def fr(text: str) -> dict[str, Any]:
    return {
        "extension": [
            {
                "url": TRANSLATION,
                "extension": [
                    {"url": "lang", "valueCode": "fr"},
                    {"url": "content", "valueString": text},
                ],
            }
        ]
    }


# An imported instrument with every kind of item the pages draw, and a question that only
# applies when the one before is answered yes.
TOGETHER_QUESTIONNAIRE = {
    "resourceType": "Questionnaire",
    "url": TOGETHER,
    "version": "1",
    "status": "active",
    "title": "Time together",
    "_title": fr("Temps ensemble"),
    "item": [
        {"linkId": "went-out", "type": "boolean", "required": True,
         "text": "Did you go out together this week?", "_text": fr("Êtes-vous sortis ensemble ?")},
        {"linkId": "where", "type": "string", "required": True, "text": "Where did you go?",
         "enableWhen": [{"question": "went-out", "operator": "=", "answerBoolean": True}]},
        {"linkId": "mood", "type": "choice", "repeats": True, "text": "How did it feel?",
         "answerOption": [{"valueString": "calm"}, {"valueString": "fun"},
                          {"valueString": "tense"}]},
        {"linkId": "hours", "type": "decimal", "text": "About how many hours?"},
        {"linkId": "when", "type": "date", "text": "On which day?"},
        {"linkId": "what", "type": "open-choice", "text": "What did you do?",
         "answerOption": [{"valueCoding": {"system": "https://tests.tandem.dev/activity",
                                           "code": "walk", "display": "A walk"}}]},
        {"linkId": "details", "type": "group", "text": "More", "item": [
            {"linkId": "note", "type": "text", "maxLength": 200, "text": "Anything else?"}]},
    ],
}  # fmt: skip
TOGETHER_IDS = {"went-out": "q0", "where": "q1", "mood": "q2", "hours": "q3", "when": "q4",
                "what": "q5", "details": "q6", "note": "q7"}  # fmt: skip


class Elements(HTMLParser):
    """Every start tag of a page with its attributes, and the text of each element by id."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def by_id(self, element_id: str) -> dict[str, str | None] | None:
        return next((a for _, a in self.tags if a.get("id") == element_id), None)

    def all(self, tag: str, **attrs: str | bool) -> list[dict[str, str | None]]:
        """The tags with these attributes (`True`: present, with or without a value)."""
        return [
            a
            for t, a in self.tags
            if t == tag
            and all(
                (k.replace("_", "-") in a) if v is True else a.get(k.replace("_", "-")) == v
                for k, v in attrs.items()
            )
        ]


class Phone:
    """A client's browser: its own cookies, sending forms from Tandem's own pages."""

    def __init__(
        self, served: TestClient, base_url: str = "http://testserver", origin: str = ORIGIN
    ):
        """A browser of its own (cookies, base URL) on the app `served` runs, in its event
        loop: the loop its lifespan opened the database pools in, as in a server."""
        self.http = TestClient(served.app, base_url=base_url, follow_redirects=False)
        self.http.portal = served.portal
        self.origin = origin

    def use_cookie(self, name: str, value: str) -> None:
        """Replace the session cookie with `value`, as a browser would send it."""
        self.http.cookies.clear()
        self.http.headers["Cookie"] = f"{name}={value}"

    def open(self, portal_url: str) -> Any:
        answer = self.http.get("/portal/" + portal_url.rsplit("/portal/", 1)[1])
        assert answer.status_code == 200, answer.text
        return answer

    def get(self, path: str, **options: Any) -> Any:
        return self.http.get(path, **options)

    def post(self, path: str, data: Any = None, headers: dict[str, str] | None = None) -> Any:
        sent = {"Origin": self.origin} | (headers or {})
        return self.http.post(path, data=data, headers={k: v for k, v in sent.items() if v})


@pytest.fixture
def couple(integrator):
    robin, sam = integrator.client("C-1", "Robin"), integrator.client("C-2", "Sam")
    couple = integrator.couple(robin["id"], sam["id"])
    robins, sams = integrator.assign("weekly-check-in", couple_id=couple["id"], due="2026-11-29")
    return {"robin": robin, "sam": sam, "robins": robins, "sams": sams}


@pytest.fixture
def robin(http, couple):
    phone = Phone(http)
    phone.open(couple["robins"]["portal_url"])
    return phone


def checkin_form(action: str = "submit", **answers: str) -> dict[str, str]:
    """The check-in page's form: answers by linkId (option index, "true"/"false" or text)."""
    return {"action": action} | {CHECK_IN_IDS[link_id]: value for link_id, value in answers.items()}


# the weekly check-in, whole: rating 6, closeness now 3 (index 2) and wanted 5 (index 4), ...
WHOLE = {"balance-rating": "6", "close-now": "2", "close-wanted": "4", "time-together": "1",
         "time-for-myself": "3", "felt-heard": "3", "stress": "2", "ritual-kept": "true",
         "need": "More evenings together", "safety": "false"}  # fmt: skip


def page_of(phone: Phone, assignment: dict[str, Any]) -> Any:
    return phone.get(f"/portal/assignments/{assignment['id']}")


# The exchange


def test_opening_a_link_sets_the_session_and_moves_on_to_an_address_without_the_token(http, couple):
    phone = Phone(http)
    token = couple["robins"]["portal_url"].rsplit("/", 1)[1]
    opened = phone.open(couple["robins"]["portal_url"])
    cookie = opened.headers["set-cookie"]
    assert cookie.startswith("tandem_portal=")
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert {"httponly", "samesite=strict", "path=/", "max-age=1800"} <= set(flags)
    assert "secure" not in flags  # local development over http
    assert token not in cookie  # sealed, not readable
    assert '<meta http-equiv="refresh" content="0; url=/portal/">' in opened.text
    assert 'href="/portal/"' in opened.text and token not in opened.text
    listed = phone.get("/portal/")
    assert listed.status_code == 200
    assert "Weekly couple check-in" in listed.text and token not in listed.text
    assert f'href="/portal/assignments/{couple["robins"]["id"]}"' in listed.text
    assert couple["sams"]["id"] not in listed.text


@pytest.mark.parametrize(
    ("environment", "public_url"),
    [("production", "https://care.example"), ("development", "https://care.example"),
     ("production", "http://care.example")],
)  # fmt: skip
def test_the_cookie_is_secure_outside_local_development(
    database_url, integrator, environment, public_url
):
    [assignment] = integrator.assign("weekly-check-in", client_id=integrator.client("C-9")["id"])
    settings = Settings(
        database_url=database_url,
        auto_migrate=False,
        environment=environment,
        signing_key="a-real-secret-of-at-least-32-characters!",
        public_url=public_url,
    )
    with TestClient(create_app(settings)) as served:  # the app's lifespan runs, as a server's
        phone = Phone(served, base_url="https://care.example", origin=public_url)
        opened = phone.open(assignment["portal_url"])
        cookie = opened.headers["set-cookie"]
        flags = [part.strip().lower() for part in cookie.split(";")]
        assert cookie.startswith("__Host-tandem_portal=") and "secure" in flags
        assert {"httponly", "samesite=strict", "path=/"} <= set(flags)
        assert phone.get("/portal/").status_code == 200
        assert phone.post("/portal/leave").status_code == 200  # its own origin


# Headers and markup


INLINE = re.compile(r"<script(?![^>]*\bsrc=)|<style|\sstyle=|\son[a-z]+=", re.IGNORECASE)


def assert_a_safe_page(answer: Any, status: int) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    policy = answer.headers["content-security-policy"]
    for directive in ("script-src 'self'", "style-src 'self'", "frame-ancestors 'none'",
                      "form-action 'self'", "default-src 'none'"):  # fmt: skip
        assert directive in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert not INLINE.search(answer.text), INLINE.search(answer.text)
    html = Elements(answer.text)
    assert html.tags[0][0] == "html" and html.tags[0][1]["lang"] == "en"
    labelled = {a["for"] for a in html.all("label")}
    for tag in ("input", "textarea", "select"):
        for field in html.all(tag):
            assert field["id"] in labelled, f"{tag} {field['id']} has no label"


def test_every_page_sends_the_safety_headers_and_no_inline_script_or_style(
    http, engine, integrator, couple, robin
):
    robins = couple["robins"]
    pages = [
        (robin.get("/portal/"), 200),
        (page_of(robin, robins), 200),
        (robin.post(f"/portal/assignments/{robins['id']}", checkin_form()), 422),
        (robin.get(f"/portal/assignments/{uuid.uuid4()}"), 404),
        (robin.get("/portal/assignments/not-an-id"), 404),
        (robin.post(f"/portal/assignments/{robins['id']}", checkin_form(), {"Origin": ""}), 403),
        (Phone(http).get("/portal/"), 403),
        (Phone(http).get("/portal/" + "not-a-token" * 4), 403),
        (Phone(http).open(couple["sams"]["portal_url"]), 200),
    ]
    done = robin.post(f"/portal/assignments/{robins['id']}", checkin_form(**WHOLE))
    assert done.status_code == 303
    assert done.headers["cache-control"] == "no-store"
    pages.append((robin.get(done.headers["location"]), 200))
    chores = homework(engine, integrator, robins["client_id"], [date.today()])
    chore = Phone(http)
    chore.open(chores["portal_url"])
    pages.append((page_of(chore, chores["assignments"][0]), 200))
    pages.append((chore.post(f"/portal/assignments/{chores['assignments'][0]['id']}/log"), 422))
    pages.append((robin.post("/portal/leave"), 200))
    for answer, status in pages:
        assert_a_safe_page(answer, status)


def test_static_files_are_served_with_their_types_and_nothing_else(http):
    css = http.get("/portal/static/portal.css")
    js = http.get("/portal/static/portal.js")
    assert css.status_code == js.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert js.headers["content-type"].startswith("text/javascript")
    for wrong in ("app.py", "..%2Fapp.py", "portal.css.map", "..%2F..%2Fsettings.py"):
        assert http.get(f"/portal/static/{wrong}").status_code == 404


# Sessions end with their link


@pytest.mark.parametrize(
    "how",
    ["revoked", "cancelled", "link-expired", "session-expired", "altered", "other-key",
     "no-cookie", "new-link"],
)  # fmt: skip
def test_a_session_ends_with_its_link_and_every_ending_looks_the_same(
    http, engine, settings, integrator, couple, robin, how
):
    robins = couple["robins"]
    name = portal_session.cookie_name(settings)
    token = robins["portal_url"].rsplit("/", 1)[1]
    assert robin.get("/portal/").status_code == 200
    if how == "revoked":
        assert integrator.post(f"/v1/assignments/{robins['id']}/revoke-link").status_code == 200
    elif how == "cancelled":
        integrator.patch(f"/v1/assignments/{robins['id']}", json={"status": "cancelled"})
    elif how == "new-link":
        assert integrator.post(f"/v1/assignments/{robins['id']}/new-link").status_code == 201
    elif how == "link-expired":
        link_row(engine, robins["portal_url"], expires_at=utcnow() - timedelta(seconds=1))
    elif how == "session-expired":
        robin.use_cookie(name, portal_session.seal(token, settings, now=time.time() - 1801))
    elif how == "altered":
        value = robin.http.cookies.get(name)
        robin.use_cookie(name, value[:-6] + ("AAAAAA" if value[-6:] != "AAAAAA" else "BBBBBB"))
    elif how == "other-key":
        other = Settings(database_url=settings.database_url, signing_key="another-key-" * 4)
        robin.use_cookie(name, portal_session.seal(token, other))
    else:
        robin.http.cookies.clear()
    gone = Phone(http).get("/portal/" + "not-a-real-token" * 3).text
    for answer in (
        robin.get("/portal/"),
        page_of(robin, robins),
        robin.post(f"/portal/assignments/{robins['id']}", checkin_form("save", stress="1")),
    ):
        assert answer.status_code == 403
        assert answer.text == gone  # no detail: the same page whatever the reason
    assert "ask your counsellor to send you a new link" in gone
    assert robin.post(f"/portal/assignments/{robins['id']}/autosave", {}).status_code == 403
    if how in ("revoked", "cancelled", "link-expired", "new-link"):
        assert Phone(http).get(robins["portal_url"].split("8000", 1)[1]).text == gone


def test_a_session_cookie_is_sealed_for_its_purpose_and_key(settings):
    sealed = portal_session.seal("the-token", settings)
    assert portal_session.unseal(sealed, settings) == "the-token"
    assert "the-token" not in sealed
    assert portal_session.unseal(sealed[:-2] + "xx", settings) is None
    assert portal_session.unseal("not.a.cookie.at.all", settings) is None
    expired = portal_session.seal("the-token", settings, now=time.time() - 31 * 60)
    assert portal_session.unseal(expired, settings) is None
    # sealed with the same key for another purpose, or signed (JWS) instead of sealed: refused
    from joserfc import jwe, jwt

    key = portal_session._key(settings.signing_key.get_secret_value())
    claims = {"purpose": "something-else", "exp": int(time.time()) + 60, "link": "t"}
    other = jwe.encrypt_compact({"alg": "dir", "enc": "A256GCM"}, json.dumps(claims), key)
    assert portal_session.unseal(other, settings) is None
    signed = jwt.encode({"alg": "HS256"}, claims | {"purpose": "portal-session"}, key)
    assert portal_session.unseal(signed, settings) is None


# Partners and origins


def test_a_partners_assignment_is_not_reachable_with_this_cookie(http, integrator, couple, robin):
    sams = couple["sams"]
    for answer in (
        page_of(robin, sams),
        robin.get(f"/portal/assignments/{sams['id']}/done"),
        robin.post(f"/portal/assignments/{sams['id']}", checkin_form(**WHOLE)),
        robin.post(f"/portal/assignments/{sams['id']}", checkin_form("save", stress="1")),
        robin.post(f"/portal/assignments/{sams['id']}/log", {"done": "yes"}),
    ):
        assert answer.status_code == 404
        assert "Sam" not in answer.text and sams["id"] not in answer.text
    assert robin.post(f"/portal/assignments/{sams['id']}/autosave", {"q8": "1"}).status_code == 404
    assert integrator.get(f"/v1/assignments/{sams['id']}").json()["status"] == "requested"


@pytest.mark.parametrize(
    "headers",
    [{"Origin": ""}, {"Origin": "https://evil.example"}, {"Origin": "null"},
     {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
     {"Origin": "https://evil.example", "Sec-Fetch-Site": "same-origin"},
     {"Origin": "http://127.0.0.1:8001"},
     {"Origin": ORIGIN, "Sec-Fetch-Site": "cross-site"},
     {"Origin": ORIGIN, "Sec-Fetch-Site": "same-site"}],
)  # fmt: skip
def test_a_form_from_anywhere_but_tandems_own_pages_is_refused(integrator, couple, robin, headers):
    robins = couple["robins"]
    for path, form in (
        (f"/portal/assignments/{robins['id']}", checkin_form(**WHOLE)),
        (f"/portal/assignments/{robins['id']}", checkin_form("save", stress="1")),
        ("/portal/leave", {}),
    ):
        answer = robin.post(path, form, headers)
        assert answer.status_code == 403
        assert "could not be sent" in answer.text
    assert robin.post(f"/portal/assignments/{robins['id']}/autosave", {"q8": "1"},
                      headers).status_code == 403  # fmt: skip
    assert integrator.get(f"/v1/assignments/{robins['id']}").json()["status"] == "requested"
    assert robin.get("/portal/").status_code == 200  # and the session goes on
    for same in ({"Sec-Fetch-Site": "same-origin"},
                 # the pages' no-referrer policy makes a browser send Origin: null with a form
                 {"Origin": "null", "Sec-Fetch-Site": "same-origin"}):  # fmt: skip
        sent = robin.post(
            f"/portal/assignments/{robins['id']}", checkin_form("save", stress="1"), same
        )
        assert sent.status_code == 303


# Save, resume, problems, thanks


def test_answers_saved_half_way_are_there_when_the_client_comes_back(http, couple, robin):
    robins = couple["robins"]
    half = {k: WHOLE[k] for k in ("balance-rating", "close-now", "time-together", "need")}
    saved = robin.post(f"/portal/assignments/{robins['id']}", checkin_form("save", **half))
    assert saved.status_code == 303
    assert saved.headers["location"] == f"/portal/assignments/{robins['id']}?saved=1"
    again = robin.get(saved.headers["location"])
    assert 'role="status"' in again.text and "Your answers are saved" in again.text
    # a new visit, from the link again: the answers are there, and where to go on
    later = Phone(http)
    later.open(robins["portal_url"])
    html = Elements(page_of(later, robins).text)
    assert html.by_id(CHECK_IN_IDS["balance-rating"])["value"] == "6"
    assert "checked" in html.by_id(f"{CHECK_IN_IDS['close-now']}-2")
    assert "checked" not in html.by_id(f"{CHECK_IN_IDS['close-now']}-1")
    assert "checked" in html.by_id(f"{CHECK_IN_IDS['time-together']}-1")
    assert "More evenings together" in page_of(later, robins).text
    resume = html.all("a", href=f"#{CHECK_IN_IDS['close-wanted']}-0")
    assert resume, "a link to the first question not answered yet"
    listed = later.get("/portal/").text
    assert "Started" in listed
    # the JSON API sees the same in-progress response
    api = later.http.get(f"/portal/api/assignments/{robins['id']}/questionnaire",
                         headers={"Authorization": f"Bearer {robins['portal_url'].rsplit('/', 1)[1]}"})  # fmt: skip
    assert api.json()["saved_response"]["status"] == "in-progress"


def test_problems_are_shown_next_to_their_items_and_summed_up_with_links(couple, robin):
    robins = couple["robins"]
    sent = checkin_form(**(WHOLE | {"balance-rating": "14", "close-wanted": ""}))
    del sent[CHECK_IN_IDS["safety"]], sent[CHECK_IN_IDS["stress"]]  # both at the top level
    answer = robin.post(f"/portal/assignments/{robins['id']}", sent)
    assert answer.status_code == 422
    html = Elements(answer.text)
    summary = html.all("div", data_error_summary=True)
    assert summary and summary[0]["role"] == "alert" and summary[0]["tabindex"] == "-1"
    links = re.findall(r'<li><a href="#([^"]+)">(.*?)</a></li>', answer.text)
    targets = [target for target, _ in links]
    assert targets == [
        CHECK_IN_IDS["balance-rating"],
        f"{CHECK_IN_IDS['close-wanted']}-0",
        f"{CHECK_IN_IDS['stress']}-0",
        f"{CHECK_IN_IDS['safety']}-0",
    ]
    for target in targets:
        assert html.by_id(target)["aria-invalid"] == "true"
    assert "Enter a whole number from 0 to 10." in links[0][1]
    assert "Answer this question." in links[1][1]
    rating = html.by_id(CHECK_IN_IDS["balance-rating"])
    assert rating["value"] == "14"  # what was typed is kept
    assert f"{CHECK_IN_IDS['balance-rating']}-error" in rating["aria-describedby"]
    assert html.by_id(f"{CHECK_IN_IDS['safety']}-error") is not None
    assert "checked" in html.by_id(f"{CHECK_IN_IDS['close-now']}-2")
    assert "Error:" in answer.text.split("</title>")[0]
    # text where a number is asked is a problem too, shown with the rest, and nothing is sent
    typed = robin.post(f"/portal/assignments/{robins['id']}",
                       checkin_form(**(WHOLE | {"balance-rating": "six"})))  # fmt: skip
    assert typed.status_code == 422
    assert Elements(typed.text).by_id(CHECK_IN_IDS["balance-rating"])["value"] == "six"
    assert "Enter a whole number from 0 to 10." in typed.text
    assert "Started" not in robin.get("/portal/").text


def test_a_submission_shows_thanks_and_the_clients_own_rating_only(http, integrator, couple, robin):
    robins, sams = couple["robins"], couple["sams"]
    sam = Phone(http)
    sam.open(sams["portal_url"])
    theirs = checkin_form(**(WHOLE | {"balance-rating": "9", "need": "Sam's private need"}))
    assert sam.post(f"/portal/assignments/{sams['id']}", theirs).status_code == 303
    answer = robin.post(f"/portal/assignments/{robins['id']}", checkin_form(**WHOLE))
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/portal/assignments/{robins['id']}/done"
    thanks = robin.get(answer.headers["location"])
    assert thanks.status_code == 200
    assert "Thank you" in thanks.text
    assert "Balance self-rating (0-10)" in thanks.text
    assert "6, on a scale from 0 to 10" in thanks.text and "Partly balanced" in thanks.text
    # nothing else of the check-in's scores, nor its private answers, nor the partner's
    for unseen in ("Closeness gap", "Stress", "Felt heard", "More evenings together",
                   "9, on a scale", "Sam's private need", "afraid"):  # fmt: skip
        assert unseen not in thanks.text
    assert integrator.get(f"/v1/assignments/{robins['id']}").json()["status"] == "completed"
    # the page of a finished assignment leads to its thanks; sending again changes nothing
    assert page_of(robin, robins).headers["location"].endswith("/done")
    again = robin.post(f"/portal/assignments/{robins['id']}", checkin_form(**WHOLE))
    assert again.status_code == 303 and again.headers["location"].endswith("/done")
    listed = robin.get("/portal/").text
    assert "Done lately" in listed and f"{robins['id']}/done" in listed


def test_a_balance_assessment_shows_no_scores_to_the_client(http, integrator):
    from tests.assessments.builders import STATEMENTS

    client = integrator.client("C-7")
    [assignment] = integrator.assign("balance-assessment", client_id=client["id"])
    phone = Phone(http)
    phone.open(assignment["portal_url"])
    from assessments import load_builtin

    ids = field_ids(load_builtin("balance-assessment").definition)
    form = {"action": "submit"} | {ids[link_id]: "2" for link_id in STATEMENTS}
    form |= {ids["gap-now"]: "3", ids["gap-wanted"]: "4"}
    answer = phone.post(f"/portal/assignments/{assignment['id']}", form)
    assert answer.status_code == 303, answer.text
    thanks = phone.get(answer.headers["location"]).text
    assert "Thank you" in thanks and "on a scale" not in thanks


def import_together(integrator) -> None:
    answer = integrator.post("/fhir/Questionnaire", json=TOGETHER_QUESTIONNAIRE)
    assert answer.status_code in (200, 201), answer.text


def test_the_server_refuses_an_answer_that_enable_when_rules_out(http, integrator):
    import_together(integrator)
    client = integrator.client("C-5")
    [assignment] = integrator.assign(f"{TOGETHER}|1", client_id=client["id"])
    phone = Phone(http)
    phone.open(assignment["portal_url"])
    page = page_of(phone, assignment)
    html = Elements(page.text)
    where = html.by_id("q1-item")
    assert where["data-enable-when"] == '[{"q":"q0","op":"=","kind":"option","value":"true"}]'
    assert "This applies only if you answered “Yes” to “Did you go out" in page.text
    assert html.all("input", type="checkbox", name="q2")  # a repeating choice
    assert html.by_id("q3")["inputmode"] == "decimal" and html.by_id("q4")["type"] == "date"
    assert html.by_id("q5-o") is not None and html.by_id("q5-other") is not None
    path = f"/portal/assignments/{assignment['id']}"
    # "No" to going out, yet a place given: as a browser without the script would send it
    refused = phone.post(path, {"action": "submit", "q0": "false", "q1": "The pier"})
    assert refused.status_code == 422
    assert "This question does not apply, given your other answers." in refused.text
    assert re.search(r'<a href="#q1"><span class="summary-label">Where did you go\?', refused.text)
    assert integrator.get(f"/v1/assignments/{assignment['id']}").json()["status"] == "requested"
    # "Yes" needs the place
    missing = phone.post(path, {"action": "submit", "q0": "true"})
    assert missing.status_code == 422 and 'href="#q1"' in missing.text
    taken = phone.post(path, {"action": "submit", "q0": "true", "q1": "The pier",
                              "q2": ["0", "1"], "q3": "2,5", "q4": "2026-11-20",
                              "q5": "other", "q5-other": "Cooked together",
                              "q7": "Line one\r\nLine two"})  # fmt: skip
    assert taken.status_code == 303, taken.text
    response_id = integrator.get("/v1/assignments", params={"status": "completed"}).json()
    stored = integrator.get(f"/v1/responses/{response_id['items'][0]['response_id']}").json()[
        "questionnaire_response"
    ]
    answers = {i["linkId"]: i.get("answer") for i in stored["item"]}
    assert answers["mood"] == [{"valueString": "calm"}, {"valueString": "fun"}]
    assert answers["hours"] == [{"valueDecimal": 2.5}]
    assert answers["what"] == [{"valueString": "Cooked together"}]
    assert stored["item"][-1]["item"][0]["answer"] == [{"valueString": "Line one\nLine two"}]


def test_leaving_the_page_keeps_what_can_be_kept(couple, robin):
    robins = couple["robins"]
    sent = {CHECK_IN_IDS["balance-rating"]: "40", CHECK_IN_IDS["stress"]: "1",
            CHECK_IN_IDS["need"]: "Time"}  # fmt: skip
    kept = robin.post(f"/portal/assignments/{robins['id']}/autosave", sent)
    assert kept.status_code == 204
    html = Elements(page_of(robin, robins).text)
    assert html.by_id(CHECK_IN_IDS["balance-rating"])["value"] == ""  # out of range: left out
    assert "checked" in html.by_id(f"{CHECK_IN_IDS['stress']}-1")


# Homework


def homework(engine, integrator, client_id: str, dues: list[date], activity: str = "weekly-date"):
    """Homework of one activity due on `dues` for a client, and a link, as a plan's approval
    makes them (made here directly, so that some can be due in the past)."""
    clinic_id = integrator_clinic(engine, client_id)
    with ClinicSession(engine, expire_on_commit=False) as session, acting_for(session, clinic_id):
        log = resolve_instrument(session, "homework-log")
        made = [
            Assignment(
                client_id=uuid.UUID(client_id),
                instrument_id=log.id,
                due=due,
                activity_id=activity,
                note="Saturday works best",
            )
            for due in dues
        ]
        session.add_all(made)
        session.flush()
        token, _ = issue_link(session, made[0], 14)
        session.commit()
    return {
        "portal_url": f"http://127.0.0.1:8000/portal/{token}",
        "token": token,
        "assignments": [{"id": str(a.id), "due": a.due} for a in made],
    }


def integrator_clinic(engine, client_id: str) -> uuid.UUID:
    from schemas import Client

    with ClinicSession(engine) as system, across_clinics(system):
        return system.get(Client, uuid.UUID(client_id)).clinic_id


def test_homework_is_logged_from_its_page_and_the_streak_grows(http, engine, integrator):
    client = integrator.client("C-3")
    today = date.today()
    dues = [today - timedelta(days=d) for d in (21, 14, 7)] + [today, today + timedelta(days=7)]
    made = homework(engine, integrator, client["id"], dues, activity="weekly-date")
    headers = {"Authorization": f"Bearer {made['token']}"}
    for piece, done in zip(made["assignments"][:3], (False, True, True), strict=True):
        logged = http.post(f"/portal/api/assignments/{piece['id']}/log", json={"done": done},
                           headers=headers)  # fmt: skip
        assert logged.status_code == 200
    phone = Phone(http)
    phone.open(made["portal_url"])
    todays = made["assignments"][3]
    page = page_of(phone, todays)
    assert page.status_code == 200
    assert "A weekly date" in page.text and "Set aside one evening" in page.text
    assert "The two of you together" in page.text and "Saturday works best" in page.text
    assert "You have done this 2 times in a row." in page.text
    html = Elements(page.text)
    assert html.by_id("reflection") is not None and html.by_id("minutes") is None
    path = f"/portal/assignments/{todays['id']}/log"
    refused = phone.post(path, {"reflection": "x" * 4001})
    assert refused.status_code == 422
    assert 'href="#done-yes"' in refused.text and "Say whether you did it." in refused.text
    assert phone.post(path, {"done": "yes", "reflection": "x" * 4001}).status_code == 422
    logged = phone.post(path, {"done": "yes", "reflection": "We walked to the harbour"})
    assert logged.status_code == 303
    thanks = phone.get(logged.headers["location"])
    assert "You have done this 3 times in a row." in thanks.text
    assert "We walked to the harbour" not in thanks.text
    listed = phone.get("/portal/").text
    assert "Coming up" in listed and "Done lately" in listed
    # a questionnaire is not logged as homework, nor homework answered as a questionnaire
    assert phone.post(f"/portal/assignments/{made['assignments'][4]['id']}",
                      {"action": "submit"}).status_code == 303  # fmt: skip


@pytest.mark.parametrize(
    ("logs", "expected"),
    [
        # (days before today it was due, logged, done) ... -> the streak
        ([], 0),
        ([(0, False, False)], 0),  # due today, not logged yet: the day is not over
        ([(1, True, True), (0, False, False)], 1),
        ([(2, True, True), (1, True, True), (0, True, True)], 3),
        ([(2, True, True), (1, True, False), (0, True, True)], 1),  # not done breaks it
        ([(2, True, True), (1, False, False), (0, True, True)], 1),  # a missed day breaks it
        ([(3, True, True), (2, True, True), (-1, True, True)], 2),  # ahead of its day: later
        ([(14, True, True), (7, True, True), (0, False, False)], 2),  # weekly
    ],
)
def test_a_streak_counts_back_from_the_latest_homework_due(logs, expected):
    today = date(2026, 11, 28)
    occurrences = [
        Occurrence(due=today - timedelta(days=days), logged=logged, done=done)
        for days, logged, done in logs
    ]
    assert current_streak(occurrences, today) == expected


# Translation


FRENCH = """
msgid ""
msgstr ""
"Content-Type: text/plain; charset=UTF-8\\n"
"Language: fr\\n"
"Plural-Forms: nplurals=2; plural=(n > 1);\\n"

msgid "Your homework"
msgstr "Vos devoirs"

msgid "Yes"
msgstr "Oui"

msgid "Answer this question."
msgstr "Répondez à cette question."

msgid "Send my answers"
msgstr "Envoyer mes réponses"
"""


@pytest.fixture
def french(tmp_path, database_url, engine):
    """Tandem with a clinic's French catalogue added under TANDEM_LOCALE_DIR."""
    folder = tmp_path / "locale" / "fr" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "messages.po").write_text(FRENCH, encoding="utf-8")
    settings = Settings(
        database_url=database_url, auto_migrate=False, locale_dir=str(tmp_path / "locale")
    )
    with TestClient(create_app(settings)) as http:  # the app's lifespan runs, as a server's
        yield http, Integrator(http, access_token(http, new_clinic(engine)))


def test_a_clinic_adds_a_language_with_a_catalogue_and_questionnaires_follow(french):
    served, integrator = french
    import_together(integrator)
    [assignment] = integrator.assign(f"{TOGETHER}|1", client_id=integrator.client("C-1")["id"])
    phone = Phone(served)
    phone.http.headers["Accept-Language"] = "fr-CA,fr;q=0.9,en;q=0.5"
    phone.open(assignment["portal_url"])
    listed = phone.get("/portal/").text
    assert '<html lang="fr">' in listed and "Vos devoirs" in listed
    assert 'hreflang="en"' in listed and 'hreflang="fr"' in listed  # the choice offered
    page = page_of(phone, assignment).text
    assert "Temps ensemble" in page and "Êtes-vous sortis ensemble ?" in page
    assert ">Oui</label>" in page and "Envoyer mes réponses" in page
    assert "Where did you go?" in page  # not translated in the Questionnaire: as written
    assert "Save and finish later" in page  # not in the catalogue: English
    refused = phone.post(f"/portal/assignments/{assignment['id']}", {"action": "submit"})
    assert "Répondez à cette question." in refused.text
    # ?lang= chooses, and the choice is remembered
    chosen = phone.get("/portal/", params={"lang": "en"})
    assert '<html lang="en">' in chosen.text and "Your homework" in chosen.text
    assert "tandem_lang=en" in chosen.headers["set-cookie"]
    assert '<html lang="en">' in phone.get("/portal/").text
    assert '<html lang="fr">' in phone.get("/portal/", params={"lang": "fr"}).text


def test_the_catalogues_hold_every_text_the_pages_show():
    """`api/locale/messages.pot` and the English catalogue list every text marked in the
    portal's templates and code: a clinic translating from the template misses none."""
    method_map = [
        ("api/services/portal_pages.py", "python"),
        ("api/routes/portal_pages.py", "python"),
        ("api/templates/portal/**.html", "jinja2.ext:babel_extract"),
    ]
    options = {"api/templates/portal/**.html": {"extensions": "jinja2.ext.i18n"}}
    marked = {
        message if isinstance(message, str) else message[0]
        for _, _, message, *_ in extract_from_dir(
            str(ROOT),
            method_map,
            options,
            keywords={"_": None, "gettext": None, "ngettext": (1, 2), "N_": None},
        )
    }
    assert len(marked) > 50
    for path in ("api/locale/messages.pot", "api/locale/en/LC_MESSAGES/messages.po"):
        with (ROOT / path).open("rb") as source:
            listed = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(source) if m.id}
        assert marked == listed, (path, marked ^ listed)
    assert set(catalogues()) == {"en"}


def test_no_token_reaches_the_log(http, couple, caplog):
    token = couple["robins"]["portal_url"].rsplit("/", 1)[1]
    with caplog.at_level(logging.INFO, logger="tandem"):
        phone = Phone(http)
        phone.open(couple["robins"]["portal_url"])
        phone.get("/portal/")
        phone.post(f"/portal/assignments/{couple['robins']['id']}", checkin_form(**WHOLE))
    assert caplog.records and not any(token in record.getMessage() for record in caplog.records)
    assert any("GET /portal/{token" in record.getMessage() for record in caplog.records)


def test_a_client_sees_only_the_scales_settings_name_and_never_one_with_a_private_item(
    settings,
):
    from dataclasses import replace

    from api.services.portal_pages import client_visible_scales
    from assessments import load_builtin

    check_in, log = CHECK_IN, load_builtin("homework-log")
    assert client_visible_scales(check_in, settings) == ["balance-rating"]  # the default
    assert client_visible_scales(log, settings) == []
    chosen = settings.model_copy(
        update={"portal_client_results": {log.url: ["minutes", "done", "no-such-scale"]}}
    )
    assert client_visible_scales(log, chosen) == ["minutes", "done"]
    private_done = replace(log, scoring=log.scoring.model_copy(update={"private_items": ["done"]}))
    assert client_visible_scales(private_done, chosen) == ["minutes"]
    assert client_visible_scales(check_in, chosen) == []

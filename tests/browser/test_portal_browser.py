"""The portal as a client meets it: a link followed from a mail, on a 360-px phone, in
Chromium with the pages' CSP enforced: answer half, save, reload and resume, see enableWhen
live, meet the error summary, send, see thanks; log homework and see the streak; an expired
link. Each page is screenshotted and checked with axe (tests/browser/conftest.py)."""

from __future__ import annotations

import time
from datetime import date, timedelta

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.api.test_portal_pages import TOGETHER, TOGETHER_QUESTIONNAIRE, homework
from tests.browser.conftest import Practice, check_page

pytestmark = pytest.mark.browser

MAIL = "http://mail.example/inbox"


def follow_from_mail(page: Page, portal_url: str) -> None:
    """Open the link as a client does: a click in a mail, on another site."""
    page.route(
        MAIL,
        lambda route: route.fulfill(
            status=200,
            content_type="text/html",
            body=f'<!doctype html><title>Inbox</title><a id="link" href="{portal_url}">'
            "Your homework</a>",
        ),
    )
    page.goto(MAIL)
    page.click("#link")
    page.wait_for_url("**/portal/")


def option(page: Page, question: str, label: str) -> None:
    """Tap an option of a question, by the question's text and the option's label."""
    page.locator("fieldset", has_text=question).get_by_label(label, exact=True).check()


def test_a_client_answers_half_saves_resumes_meets_problems_and_sends(
    phone: Page, practice: Practice
):
    client = practice.client("B-1")
    [assignment] = practice.post(
        "/v1/assignments", {"instrument": "weekly-check-in", "client_id": client["id"]}
    )["assignments"]
    token = assignment["portal_url"].rsplit("/", 1)[1]

    follow_from_mail(phone, assignment["portal_url"])
    assert token not in phone.url and phone.url.endswith("/portal/")
    expect(phone.get_by_role("heading", level=1)).to_have_text("Your homework")
    check_page(phone, "01-list")

    phone.get_by_role("link", name="Weekly couple check-in").click()
    expect(phone.get_by_role("heading", level=1)).to_have_text("Weekly couple check-in")
    check_page(phone, "02-questionnaire")

    # half the answers, then Save
    phone.get_by_label("This week, how well did closeness").fill("6")
    option(phone, "How close did you and your partner feel", "3 - A little distant")
    option(phone, "How close would you have liked to feel", "5 - Fairly close")
    option(phone, "We had enough time together.", "Disagree")
    phone.get_by_role("button", name="Save and finish later").click()
    expect(phone.get_by_role("status")).to_contain_text("Your answers are saved")
    check_page(phone, "03-saved")

    # reload, and come back from the list: the answers are there
    phone.reload()
    expect(phone.get_by_label("This week, how well did closeness")).to_have_value("6")
    phone.get_by_role("link", name="Back to your list").click()
    expect(phone.locator(".card")).to_contain_text("Started")
    phone.get_by_role("link", name="Weekly couple check-in").click()
    q = phone.locator("fieldset", has_text="How close would you have liked to feel")
    expect(q.get_by_label("5 - Fairly close", exact=True)).to_be_checked()

    # enableWhen, live: the support message shows only after a yes to the safety question
    support = phone.get_by_text("Thank you for telling us.")
    expect(support).to_be_hidden()
    option(phone, "did you at any time feel afraid", "Yes")
    expect(support).to_be_visible()
    option(phone, "did you at any time feel afraid", "No")
    expect(support).to_be_hidden()

    # send with answers missing: the summary takes focus, and its links focus the item
    phone.get_by_role("button", name="Send my answers").click()
    summary = phone.locator("[data-error-summary]")
    expect(summary).to_be_focused()
    expect(summary.get_by_role("link")).to_have_count(4)  # time for myself ... ritual
    expect(summary.get_by_role("link").first).to_have_text(
        "I had enough time for myself. Answer this question."
    )
    check_page(phone, "04-problems")
    summary.get_by_role("link").first.click()
    expect(phone.locator("#q6-0")).to_be_focused()  # time-for-myself's first option

    # keyboard only: the rest of the answers, then send
    option(phone, "I had enough time for myself.", "Agree")
    option(phone, "I felt heard by my partner.", "Agree")
    option(phone, "How stressed did you feel this week?", "A little")
    option(phone, "keep your ritual of connection", "Yes")
    option(phone, "did you at any time feel afraid", "No")
    phone.get_by_role("button", name="Send my answers").focus()
    phone.keyboard.press("Enter")
    expect(phone.get_by_role("heading", level=1)).to_have_text("Thank you")
    expect(phone.locator(".results")).to_contain_text("6, on a scale from 0 to 10")
    expect(phone.locator(".results")).to_contain_text("Partly balanced")
    check_page(phone, "05-thanks")
    assert practice.get(f"/v1/assignments/{assignment['id']}")["status"] == "completed"


def test_every_kind_of_item_and_leaving_the_page_keeps_the_answers(phone: Page, practice: Practice):
    practice.post("/fhir/Questionnaire", TOGETHER_QUESTIONNAIRE)
    client = practice.client("B-2")
    [assignment] = practice.post(
        "/v1/assignments", {"instrument": f"{TOGETHER}|1", "client_id": client["id"]}
    )["assignments"]
    follow_from_mail(phone, assignment["portal_url"])
    phone.get_by_role("link", name="Time together").click()
    where = phone.get_by_label("Where did you go?")
    expect(where).to_be_hidden()  # the script hides what does not apply yet
    expect(phone.get_by_text("This applies only if you answered")).to_be_hidden()
    option(phone, "Did you go out together", "Yes")
    expect(where).to_be_visible()
    where.fill("The pier")
    phone.get_by_label("fun").check()
    phone.get_by_label("About how many hours?").fill("2.5")
    check_page(phone, "06-every-kind")

    # leave the page: the script sends what was answered (a beacon, which may land just
    # after the list is drawn); then come back
    phone.get_by_role("link", name="Back to your list").click()
    deadline = time.monotonic() + 5
    while "Started" not in phone.locator(".card").first.inner_text():
        assert time.monotonic() < deadline, "the answers were not kept on leaving"
        phone.wait_for_timeout(100)
        phone.reload()
    phone.get_by_role("link", name="Time together").click()
    expect(phone.get_by_label("Where did you go?")).to_have_value("The pier")
    expect(phone.get_by_label("fun")).to_be_checked()

    # "No" hides the place again: it is not sent, and the server takes the answers
    option(phone, "Did you go out together", "No")
    expect(phone.get_by_label("Where did you go?")).to_be_hidden()
    phone.get_by_role("button", name="Send my answers").click()
    expect(phone.get_by_role("heading", level=1)).to_have_text("Thank you")


def test_homework_is_logged_and_the_streak_shown(phone: Page, practice: Practice, engine):
    client = practice.client("B-3")
    today = date.today()
    made = homework(
        engine, practice, client["id"], [today - timedelta(days=1), today], "daily-touchpoint"
    )
    yesterday = made["assignments"][0]
    logged = requests.post(
        f"{practice.base}/portal/api/assignments/{yesterday['id']}/log",
        json={"done": True},
        headers={"Authorization": f"Bearer {made['token']}"},
        timeout=10,
    )
    assert logged.status_code == 200
    follow_from_mail(phone, f"{practice.base}/portal/{made['token']}")
    phone.get_by_role("link", name="A small daily ritual together Homework · Due today").click()
    expect(phone.locator(".streak")).to_contain_text("You did this the last time it was due.")
    check_page(phone, "07-homework")

    phone.get_by_role("button", name="Log it").click()
    expect(phone.locator("[data-error-summary]")).to_be_focused()
    check_page(phone, "08-homework-problem")
    # keyboard only: Tab to the first answer, Space to choose it, Tab on, type, Enter
    for _ in range(30):
        if phone.evaluate("document.activeElement.id") == "done-yes":
            break
        phone.keyboard.press("Tab")
    phone.keyboard.press("Space")
    expect(phone.get_by_label("Yes, I did it")).to_be_checked()
    phone.keyboard.press("Tab")
    expect(phone.get_by_label("About how many minutes did it take?")).to_be_focused()
    phone.keyboard.type("15")
    phone.keyboard.press("Tab")
    expect(phone.get_by_role("button", name="Log it")).to_be_focused()
    phone.keyboard.press("Enter")
    expect(phone.locator(".streak")).to_contain_text("You have done this 2 times in a row.")
    check_page(phone, "09-homework-logged")


def test_an_expired_link_says_to_ask_for_a_new_one(phone: Page, tandem: str):
    phone.goto(f"{tandem}/portal/{'this-link-is-no-more' * 3}")
    expect(phone.get_by_role("heading", level=1)).to_have_text("This link does not work any more")
    expect(phone.get_by_text("ask your counsellor to send you a new link")).to_be_visible()
    check_page(phone, "10-link-gone")


def test_the_pages_reflow_at_320_px_and_200_percent_zoom(browser, practice: Practice):
    """At 200% zoom a 640-px window is 320 CSS px wide (WCAG's reflow width): nothing
    scrolls sideways, and the text is still there to read."""
    client = practice.client("B-4")
    [assignment] = practice.post(
        "/v1/assignments", {"instrument": "balance-assessment", "client_id": client["id"]}
    )["assignments"]
    context = browser.new_context(viewport={"width": 320, "height": 640}, device_scale_factor=2)
    page = context.new_page()
    follow_from_mail(page, assignment["portal_url"])
    page.get_by_role("link", name="Closeness and independence").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("balance assessment")
    page.wait_for_load_state()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert page.evaluate("getComputedStyle(document.body).fontSize") == "18px"
    check_page(page, "11-balance-at-320")
    context.close()


def test_the_other_pages_and_a_form_forged_on_another_site(
    phone: Page, practice: Practice, tandem: str
):
    client = practice.client("B-5")
    [assignment] = practice.post(
        "/v1/assignments", {"instrument": "weekly-check-in", "client_id": client["id"]}
    )["assignments"]

    # the page that moves on from the link (held still here to be looked at)
    phone.route(f"{tandem}/portal/", lambda route: route.fulfill(status=204))  # stays put
    phone.goto(assignment["portal_url"])
    expect(phone.get_by_role("heading", level=1)).to_have_text("Opening your homework…")
    check_page(phone, "00-opening")
    phone.unroute(f"{tandem}/portal/")
    phone.get_by_role("link", name="Continue").click()
    expect(phone.get_by_role("heading", level=1)).to_have_text("Your homework")

    phone.goto(f"{tandem}/portal/assignments/00000000-0000-4000-8000-000000000000")
    expect(phone.get_by_role("heading", level=1)).to_have_text("We could not find that")
    check_page(phone, "12-not-found")

    # a page on another site posts a form to Tandem: refused, nothing sent
    phone.route(
        MAIL,
        lambda route: route.fulfill(
            status=200,
            content_type="text/html",
            body="<!doctype html><title>Offer</title>"
            f'<form method="post" action="{tandem}/portal/assignments/{assignment["id"]}">'
            '<input type="hidden" name="action" value="save">'
            '<input type="hidden" name="q8" value="4"><button id="go">Win</button></form>',
        ),
    )
    phone.goto(MAIL)
    phone.click("#go")
    expect(phone.get_by_role("heading", level=1)).to_have_text("That could not be sent")
    check_page(phone, "13-refused")
    assert practice.get(f"/v1/assignments/{assignment['id']}")["status"] == "requested"

    # leaving ends the session on this phone
    phone.goto(f"{tandem}/portal/")
    phone.get_by_role("button", name="Leave (on a shared phone)").click()
    expect(phone.get_by_role("heading", level=1)).to_have_text("You have left")
    check_page(phone, "14-left")
    phone.goto(f"{tandem}/portal/")
    expect(phone.get_by_role("heading", level=1)).to_have_text("This link does not work any more")

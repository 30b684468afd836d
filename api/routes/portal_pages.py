"""/portal: the pages a client opens from their portal link, on a phone, in any browser.

`GET /portal/{token}` exchanges the link's token for a session cookie
(`api.auth.portal_session`) and answers a page that moves on, by a meta
refresh and a link, to `/portal/`, an address without the token. (A
SameSite=Strict cookie set on the answer to a link followed from another
site, a mail or a text message, is not sent on a redirect in that same
chain; a navigation started by Tandem's own page sends it.) Every page after
that checks the cookie's link again, the same check as the JSON API's.

Pages are server-rendered HTML (Jinja2, in the client's language: `api.i18n`)
that work without script; `static/portal/portal.js` adds enableWhen as the
client answers, focus on the error summary, and saving on leaving the page.
Every page says `Cache-Control: no-store`, `Referrer-Policy: no-referrer` and
a Content-Security-Policy that allows no inline script or style. Every POST
must come from Tandem's own origin (`Origin`, and `Sec-Fetch-Site` where a
browser sends it), on top of the SameSite=Strict cookie.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from contextlib import suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from starlette.convertors import Convertor, register_url_convertor
from starlette.responses import Response

from api import i18n
from api.auth import portal_session
from api.auth.dependencies import PortalCall
from api.errors import Conflict, NotFound, Unauthorized
from api.persistence.connection import request_connection
from api.services import portal_pages
from api.services.portal_links import open_link
from api.services.portal_pages import Form, FormRefused, LogRefused
from api.settings import Settings
from schemas import ResponseStatus

router = APIRouter(include_in_schema=False)


class _LinkToken(Convertor[str]):
    """A path segment with the shape of a portal link's token: URL-safe characters, 32 to
    128 of them (Tandem's are 43). Other paths under /portal/ are no link: they stay
    unknown paths (404), and the access log says so."""

    regex = "[A-Za-z0-9_-]{32,128}"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("link_token", _LinkToken())

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}

STATIC = Path(__file__).resolve().parent.parent / "static" / "portal"
_STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
_STATIC_FILES = {
    path.name: hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    for path in sorted(STATIC.iterdir())
    if path.suffix in _STATIC_TYPES
}


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def portal_base(settings: Settings) -> str:
    """Where the pages live as clients see them: /portal under TANDEM_PUBLIC_URL's path."""
    return urlsplit(settings.public_url).path.rstrip("/") + "/portal"


def _page(
    request: Request, template: str, status: int = 200, here: bool = True, **context: Any
) -> HTMLResponse:
    """A page in the client's language, with the headers every page sends. `here`: the
    page's own address may be linked (to switch language); never one holding a token."""
    settings = _settings(request)
    base = portal_base(settings)
    html = i18n.render(
        request,
        f"portal/{template}",
        base=base,
        static={name: f"{base}/static/{name}?v={tag}" for name, tag in _STATIC_FILES.items()},
        here=request.url.path if here else None,
        **context,
    )
    response = HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)
    i18n.remember_choice(request, response, portal_session.is_secure(settings))
    return response


def _to(request: Request, path: str) -> RedirectResponse:
    """See Other: a page of the portal, after a form was taken."""
    location = portal_base(_settings(request)) + path
    return RedirectResponse(location, status_code=303, headers=PAGE_HEADERS)


def _link_gone(request: Request) -> HTMLResponse:
    """The one page for a link or session that no longer works, whatever the reason."""
    response = _page(request, "link_gone.html", status=403, here=False)
    portal_session.end(response, _settings(request))
    return response


def _refused(request: Request) -> HTMLResponse:
    return _page(request, "refused.html", status=403)


def _not_found(request: Request) -> HTMLResponse:
    return _page(request, "not_found.html", status=404)


class _Gone(Exception):
    """The session's link stopped working (or there is no session)."""


Work = Callable[[PortalCall], Awaitable[Response]]


async def _visit(request: Request, work: Work) -> Response:
    """Run `work` for the client whose session this is, on a connection scoped to them,
    committed before the page is sent; the link-gone page when the session's link no
    longer opens. A page seen renews the session."""
    settings = _settings(request)
    token = portal_session.link_token(request, settings)
    if token is None:
        return _link_gone(request)
    try:
        async with request_connection(request) as connection:
            try:
                visitor = await open_link(connection, token)
            except Unauthorized as error:
                raise _Gone from error
            response = await work(PortalCall(connection, visitor))
    except _Gone:
        return _link_gone(request)
    except NotFound:
        return _not_found(request)
    except FormRefused as refused:
        response = _page(request, "questionnaire.html", status=422, page=refused.page)
    except LogRefused as refused:
        response = _page(request, "homework.html", status=422, page=refused.page)
    portal_session.start(response, token, settings)
    return response


def _assignment_id(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


async def _form_to(request: Request, assignment_id: str) -> tuple[uuid.UUID, Form] | Response:
    """A form posted to an assignment's page: the assignment's id and the form's fields,
    or the page refusing it (posted from another site: 403; no such id: 404)."""
    if not portal_session.same_origin(request, _settings(request)):
        return _refused(request)
    found = _assignment_id(assignment_id)
    if found is None:
        return _not_found(request)
    form = await request.form()
    return found, {key: [v for v in form.getlist(key) if isinstance(v, str)] for key in form}


@router.get("/portal/static/{name}")
async def portal_static(name: str) -> Response:
    """The pages' stylesheet and script (no inline script or style anywhere)."""
    if name not in _STATIC_FILES:
        return Response(status_code=404, headers={"Cache-Control": "no-store"})
    return FileResponse(
        STATIC / name,
        media_type=_STATIC_TYPES[Path(name).suffix],
        headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )


@router.get("/portal/")
async def portal_home(request: Request) -> Response:
    """The client's list: open questionnaires and homework with due dates, and what is done."""

    async def work(call: PortalCall) -> Response:
        on = portal_pages.today()
        view = await portal_pages.home(call.connection, call.visitor, on)
        return _page(request, "home.html", view=view, today=on)

    return await _visit(request, work)


@router.post("/portal/leave")
async def portal_leave(request: Request) -> Response:
    """End the session on this device (the link itself still works)."""
    if not portal_session.same_origin(request, _settings(request)):
        return _refused(request)
    response = _page(request, "left.html")
    portal_session.end(response, _settings(request))
    return response


@router.get("/portal/assignments/{assignment_id}")
async def portal_assignment(request: Request, assignment_id: str) -> Response:
    """A questionnaire to fill in (with the answers saved so far), or homework to log."""
    found = _assignment_id(assignment_id)
    if found is None:
        return _not_found(request)

    async def work(call: PortalCall) -> Response:
        assignment = await portal_pages.assigned(call.connection, call.visitor, found)
        if assignment.completed:
            return _to(request, f"/assignments/{found}/done")
        if assignment.homework:
            page = await portal_pages.homework_page(
                call.connection, call.visitor, assignment, portal_pages.today()
            )
            return _page(request, "homework.html", page=page)
        form = await portal_pages.questionnaire_form(
            call.connection, call.visitor, assignment, i18n.translation_for(request)
        )
        form.saved = request.query_params.get("saved") == "1"
        return _page(request, "questionnaire.html", page=form)

    return await _visit(request, work)


@router.post("/portal/assignments/{assignment_id}")
async def portal_answer(request: Request, assignment_id: str) -> Response:
    """Save the answers so far (`action=save`) or send them (`action=submit`)."""
    posted = await _form_to(request, assignment_id)
    if isinstance(posted, Response):
        return posted
    found, form = posted
    submitting = form.get("action", [""])[0] == "submit"

    async def work(call: PortalCall) -> Response:
        assignment = await portal_pages.assigned(call.connection, call.visitor, found)
        if assignment.completed:
            return _to(request, f"/assignments/{found}/done")
        if assignment.homework:
            return _to(request, f"/assignments/{found}")
        status = ResponseStatus.COMPLETED if submitting else ResponseStatus.IN_PROGRESS
        try:
            await portal_pages.send_form(
                call.connection,
                call.visitor,
                assignment,
                form,
                status,
                i18n.translation_for(request),
            )
        except Conflict:
            return _to(request, f"/assignments/{found}/done")
        if submitting:
            return _to(request, f"/assignments/{found}/done")
        return _to(request, f"/assignments/{found}?saved=1")

    return await _visit(request, work)


@router.post("/portal/assignments/{assignment_id}/autosave")
async def portal_autosave(request: Request, assignment_id: str) -> Response:
    """What the page's script sends when the client leaves it: kept as in-progress."""
    posted = await _form_to(request, assignment_id)
    if isinstance(posted, Response):
        return _bare(posted)
    found, form = posted

    async def work(call: PortalCall) -> Response:
        assignment = await portal_pages.assigned(call.connection, call.visitor, found)
        try:
            saved = await portal_pages.autosave(call.connection, call.visitor, assignment, form)
        except Conflict:
            saved = False
        return Response(status_code=204 if saved else 422, headers=PAGE_HEADERS)

    return _bare(await _visit(request, work))


def _bare(answer: Response) -> Response:
    """A refusal page as its status alone: the page's script reads no HTML."""
    if answer.status_code in (403, 404) and answer.headers.get("content-type", "").startswith(
        "text/html"
    ):
        return Response(status_code=answer.status_code, headers=PAGE_HEADERS)
    return answer


@router.post("/portal/assignments/{assignment_id}/log")
async def portal_log(request: Request, assignment_id: str) -> Response:
    """Log a piece of homework: done or not, minutes, a reflection (private)."""
    posted = await _form_to(request, assignment_id)
    if isinstance(posted, Response):
        return posted
    found, form = posted

    async def work(call: PortalCall) -> Response:
        assignment = await portal_pages.assigned(call.connection, call.visitor, found)
        if assignment.completed:
            return _to(request, f"/assignments/{found}/done")
        if not assignment.homework:
            return _to(request, f"/assignments/{found}")
        with suppress(Conflict):  # logged meanwhile: the thank-you page says so
            await portal_pages.log_homework(
                call.connection,
                call.visitor,
                assignment,
                form,
                portal_pages.today(),
                i18n.translation_for(request),
            )
        return _to(request, f"/assignments/{found}/done")

    return await _visit(request, work)


@router.get("/portal/assignments/{assignment_id}/done")
async def portal_done(request: Request, assignment_id: str) -> Response:
    """Thank you: with the client's own results where the instrument shows them, or their
    streak for homework."""
    found = _assignment_id(assignment_id)
    if found is None:
        return _not_found(request)

    async def work(call: PortalCall) -> Response:
        assignment = await portal_pages.assigned(call.connection, call.visitor, found)
        if not assignment.completed:
            return _to(request, f"/assignments/{found}")
        view = await portal_pages.thanks(
            call.connection, call.visitor, assignment, _settings(request), portal_pages.today()
        )
        return _page(request, "thanks.html", view=view)

    return await _visit(request, work)


@router.get("/portal/{token:link_token}")
async def portal_open(request: Request, token: str) -> Response:
    """Open a portal link: its token becomes the session cookie, and the page moves on to
    the list at an address without the token."""
    settings = _settings(request)
    try:
        async with request_connection(request) as connection:
            await open_link(connection, token)
    except Unauthorized:
        return _link_gone(request)
    response = _page(request, "opening.html", here=False, onward=portal_base(settings) + "/")
    portal_session.start(response, token, settings)
    return response

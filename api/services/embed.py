"""The couple report inside the counsellor's practice system: a signed, short-lived link
to a server-rendered page made to sit in an iframe.

- `issue_report_link`: a URL to `/embed/couples/{id}/report?token=...`, the token a
  JWT (HS256, named on encode and decode) signed with the key access tokens use,
  carrying the clinic, the couple, its expiry and a purpose claim. Its `typ` and
  purpose differ from an access token's, and an access token lacks both, so
  neither can stand in for the other; a portal link's token is no JWT at all.
- `open_report_link`: who the token lets in, or `ReportRefused` (401, or 403 for
  another couple's page), saying nothing about why.
- `report_page`: the HTML: the couple report, the balance map and each partner's
  trends as inline SVG, the couple's open alerts and the plan's adherence.
- `embed_origins` / `set_embed_origins`: the origins whose pages may frame the
  report (the page's `frame-ancestors`); none means no page may.
"""

from __future__ import annotations

import re
import time
import uuid
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from typing import Any

from joserfc import jwt
from joserfc.errors import ExpiredTokenError, JoseError
from joserfc.jwk import OctKey
from markupsafe import Markup
from pydantic import BaseModel, Field
from sqlmodel import Session

from api import i18n
from api.auth.tokens import ALGORITHM, CLINIC_CLAIM
from api.errors import FieldProblem, InvalidInput, NotFound
from api.i18n import Translator
from api.persistence.tenancy import current_clinic, scope_to_clinic
from api.services import alerts, charts, plans, reports
from api.services.clients import couple_members
from api.services.instruments import InstrumentKey, clinical_definition, resolve_instrument
from api.settings import Settings
from schemas import AlertStatus, Clinic, PlanStatus

TOKEN_TYPE = "report+jwt"
PURPOSE_CLAIM = "https://tandem.dev/purpose"
PURPOSE = "embedded-couple-report"
COUPLE_CLAIM = "https://tandem.dev/couple"
TREND_SCALES = ("closeness", "autonomy", "balance-position")
MAX_ORIGINS = 20
_REFUSED = "embed/refused.html"
WEEKS = 8  # the check-ins of the last so many weeks, as the couple report's default


class ReportLink(BaseModel):
    url: str = Field(description="open it in an iframe (or a browser) before `expires_at`")
    expires_at: datetime


@dataclass(frozen=True)
class ReportAccess:
    """What a valid report token opens: one couple of one clinic."""

    clinic_id: uuid.UUID
    couple_id: uuid.UUID


class ReportRefused(Exception):
    """The token does not open this page. `clinic_id` is known when the token is genuine
    (expired, or for another couple), so the refusal can still show inside the clinic's
    frame; the status is 401 or 403, and the reason is never told."""

    def __init__(self, status: int, clinic_id: uuid.UUID | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.clinic_id = clinic_id


@lru_cache(maxsize=8)
def _key(secret: str) -> OctKey:
    return OctKey.import_key(secret.encode())


def issue_report_link(session: Session, settings: Settings, couple_id: uuid.UUID) -> ReportLink:
    """A signed link to the couple's embedded report, valid `report_link_minutes`.
    NotFound for another clinic's couple."""
    couple_members(session, couple_id)  # NotFound for a couple outside the clinic
    clinic_id = current_clinic(session)
    now = int(time.time())
    expires = now + settings.report_link_minutes * 60
    issuer = settings.public_url
    claims = {
        "iss": issuer,
        "aud": _audience(issuer),
        "iat": now,
        "exp": expires,
        PURPOSE_CLAIM: PURPOSE,
        CLINIC_CLAIM: str(clinic_id),
        COUPLE_CLAIM: str(couple_id),
    }
    token = jwt.encode(
        {"alg": ALGORITHM, "typ": TOKEN_TYPE},
        claims,
        _key(settings.signing_key.get_secret_value()),
        algorithms=[ALGORITHM],
    )
    return ReportLink(
        url=f"{issuer.rstrip('/')}/embed/couples/{couple_id}/report?token={token}",
        expires_at=datetime.fromtimestamp(expires, UTC),
    )


def _audience(issuer: str) -> str:
    return issuer.rstrip("/") + "/embed"


def open_report_link(token: str | None, couple_id: str, settings: Settings) -> ReportAccess:
    """The couple and clinic a report token opens, if it is genuine, unexpired, made for
    the embedded report, and for this couple (`couple_id` as it came in the path).
    `ReportRefused` otherwise: 401, or 403 for a genuine token of another couple."""
    if not token:
        raise ReportRefused(401)
    try:
        decoded = jwt.decode(
            token, _key(settings.signing_key.get_secret_value()), algorithms=[ALGORITHM]
        )
        if decoded.header.get("typ") != TOKEN_TYPE:
            raise ReportRefused(401)
        clinic_id = uuid.UUID(str(decoded.claims[CLINIC_CLAIM]))
        granted = uuid.UUID(str(decoded.claims[COUPLE_CLAIM]))
    except (JoseError, KeyError, ValueError) as error:
        raise ReportRefused(401) from error
    try:
        _registry(settings.public_url).validate(decoded.claims)
    except ExpiredTokenError as error:
        raise ReportRefused(401, clinic_id) from error
    except JoseError as error:
        raise ReportRefused(401) from error
    if couple_id != str(granted):
        raise ReportRefused(403, clinic_id)
    return ReportAccess(clinic_id, granted)


@lru_cache(maxsize=8)
def _registry(issuer: str) -> jwt.JWTClaimsRegistry:
    return jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": _audience(issuer)},
        exp={"essential": True},
        **{PURPOSE_CLAIM: {"essential": True, "value": PURPOSE}},
    )


# Who may frame the page

_ORIGIN = re.compile(r"^https://[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?$")
_LOOPBACK = re.compile(r"^http://(localhost|127\.0\.0\.1|\[::1\])(:[0-9]{1,5})?$")


def origin_problem(origin: str) -> str | None:
    """Why `origin` cannot be a frame ancestor, or None: it must be `https://host[:port]`
    (http only for localhost), with no path, query, wildcard or quotes."""
    if _ORIGIN.match(origin) or _LOOPBACK.match(origin):
        return None
    return "an origin is https://host or https://host:port (http only for localhost)"


def set_embed_origins(session: Session, origins: list[str]) -> list[str]:
    """Replace the clinic's embed origins (lower-cased, a trailing slash dropped, each once,
    in the order given); an empty list lets no page frame the report. InvalidInput names
    every bad origin."""
    cleaned = list(dict.fromkeys(origin.strip().lower().rstrip("/") for origin in origins))
    problems = [
        FieldProblem(f"/origins/{n}", f"{origin}: {problem}")
        for n, origin in enumerate(cleaned)
        if (problem := origin_problem(origin)) is not None
    ]
    if len(cleaned) > MAX_ORIGINS:
        problems.append(FieldProblem("/origins", f"at most {MAX_ORIGINS} origins"))
    if problems:
        raise InvalidInput(f"{len(problems)} origin(s) cannot be used", problems)
    clinic = _clinic(session)
    clinic.embed_origins = cleaned
    session.add(clinic)
    session.flush()
    return cleaned


def embed_origins(session: Session) -> list[str]:
    """The origins whose pages may frame the clinic's embedded report."""
    return list(_clinic(session).embed_origins or [])


def _clinic(session: Session) -> Clinic:
    clinic = session.get(Clinic, current_clinic(session))
    if clinic is None:
        raise NotFound("no such clinic")
    return clinic


def content_security_policy(origins: list[str]) -> str:
    """The page's policy: no script, nothing fetched, its own inline styles and SVG only,
    framed only by `origins` (`'none'` when there are none)."""
    allowed = [origin for origin in origins if origin_problem(origin) is None]
    ancestors = " ".join(allowed) if allowed else "'none'"
    return (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
        f"form-action 'none'; frame-ancestors {ancestors}"
    )


# The page


def _render(translator: Translator, name: str, **context: Any) -> str:
    """A page in the translator's language, through the portal pages' gettext catalogues."""
    return (
        i18n.environment()
        .get_template(name)
        .render(
            translator=translator,
            language=translator.tag,
            stylesheet=_stylesheet(),
            number=_number,
            percent=_percent,
            moment=_moment,
            **context,
        )
    )


@lru_cache(maxsize=1)
def _stylesheet() -> Markup:
    css = resources.files("api").joinpath("static/embed/report.css").read_text("utf-8")
    return Markup(css)  # our own file, never user input


@dataclass(frozen=True)
class Page:
    """An embedded page to send: its status, HTML, and the origins that may frame it."""

    status: int
    html: str
    origins: list[str]

    def headers(self) -> dict[str, str]:
        """No caching, no referrer, no sniffing, no script; framed by the clinic's origins."""
        return {
            "Content-Security-Policy": content_security_policy(self.origins),
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        }


def refusal(session: Session, refused: ReportRefused, translator: Translator) -> Page:
    """The plain page for a link that does not open the report; it says no more than that.
    A genuine token's clinic still frames it, so the practice system shows it in place."""
    origins: list[str] = []
    if refused.clinic_id is not None:
        scope_to_clinic(session, refused.clinic_id)
        with suppress(NotFound):  # a clinic since removed: no one may frame it
            origins = embed_origins(session)
    return Page(refused.status, _render(translator, _REFUSED, status=refused.status), origins)


def report(
    session: Session, access: ReportAccess, settings: Settings, translator: Translator
) -> Page:
    """The couple's embedded report for a token `open_report_link` accepted; a plain 404
    page if the couple has gone since the link was made."""
    scope_to_clinic(session, access.clinic_id)
    origins = embed_origins(session)
    try:
        html = report_page(session, access.couple_id, settings.partners_differ_share, translator)
    except NotFound:
        return Page(404, _render(translator, _REFUSED, status=404), origins)
    return Page(200, html, origins)


def report_page(
    session: Session,
    couple_id: uuid.UUID,
    differ_share: Decimal,
    translator: Translator,
    weeks: int = WEEKS,
) -> str:
    """The embedded couple report as HTML: the couple report, the balance map and each
    partner's trends inline, the couple's open alerts, and the plan in force with its
    adherence. For the counsellor: it carries private answers and every flag."""
    members = couple_members(session, couple_id)
    labels = charts.partner_labels(session, members)
    report = reports.couple_report(session, couple_id, weeks, differ_share)
    definition = clinical_definition(
        session, InstrumentKey.of(resolve_instrument(session, reports.BALANCE))
    )
    band_labels = {
        (scale.code, band.code): band.label
        for scale in definition.scoring.scales
        for band in scale.bands
    }
    balance_map = charts.balance_map(session, couple_id)
    partners = []
    for n, (client_id, label) in enumerate(zip(members, labels, strict=True), 1):
        balance = report.balance.partners[n - 1]
        trends = (
            charts.scale_trends(session, client_id, reports.BALANCE, TREND_SCALES, label)
            if balance.response_id is not None
            else []
        )
        partners.append(
            {
                "number": n,
                "label": label,
                "balance": balance,
                "trends": [
                    {
                        "svg": Markup(picture.inline_svg(f"p{n}-{scale}")),
                        "title": picture.title,
                    }
                    for scale, picture in zip(TREND_SCALES, trends, strict=False)
                ],
                "check_ins": report.check_ins.partners[n - 1],
            }
        )
    label_of = dict(zip(members, labels, strict=True))
    open_alerts = [  # the partners' own, and those raised for this couple
        {"alert": alert, "who": label_of[alert.client_id]}
        for alert in alerts.list_alerts(session, AlertStatus.OPEN).items
        if alert.client_id in label_of and alert.couple_id in (None, couple_id)
    ]
    return _render(
        translator,
        "embed/report.html",
        labels=labels,
        couple=translator.gettext("%(first)s and %(second)s")
        % {"first": labels[0], "second": labels[1]},
        report=report,
        band_labels=band_labels,
        balance_map=Markup(balance_map.inline_svg("balance-map")),
        partners=partners,
        alerts=open_alerts,
        plan=_plan_in_force(session, couple_id),
        label_of=label_of,
        generated_at=report.generated_at,
    )


def _plan_in_force(session: Session, couple_id: uuid.UUID) -> Any:
    """The couple's plan in force (approved, active), else its newest plan, else None."""
    found = plans.couple_plans(session, couple_id)
    active = [plan for plan in found if plan.status == PlanStatus.ACTIVE]
    return (active or found or [None])[0]


def _moment(moment: datetime) -> str:
    """A moment to the minute, in UTC and ISO order, in any language."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _number(value: Any) -> str:
    if value is None:
        return "-"
    number = Decimal(str(value))
    return f"{number.normalize():f}" if number == number.to_integral_value() else f"{number:f}"


def _percent(rate: Any) -> str:
    return "-" if rate is None else f"{round(float(rate) * 100)}%"

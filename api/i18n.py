"""Translation for the pages Tandem serves: gettext catalogues and one Jinja2 environment.

Every text a page shows goes through gettext. The catalogues are Babel `.po`
files, read and compiled in memory once, at first use:

- shipped: `api/locale/<lang>/LC_MESSAGES/messages.po` (English);
- a clinic's own: the same layout under `TANDEM_LOCALE_DIR`. A clinic adds a
  language by adding a catalogue there, translated from
  `api/locale/messages.pot`; no template changes. A catalogue there for a
  shipped language replaces the shipped wording.

A request's language is its `?lang=` choice (remembered in a cookie by
`remember_choice`), else the best of its `Accept-Language`, else English.
Questionnaire text follows FHIR's translation extension (`fhir_text`).

After changing a text in a template or in `api/services/portal_pages.py`,
bring the template and the English catalogue up to date (a test holds them
to the code):

    pybabel extract -F api/locale/babel.cfg -k N_ --no-location --sort-output \
        -o api/locale/messages.pot .
    pybabel update -i api/locale/messages.pot -d api/locale -D messages \
        --no-wrap --ignore-obsolete --no-fuzzy-matching

    gettext = translator_for(request)
    html = render(request, "portal/home.html", assignments=...)
"""

from __future__ import annotations

import gettext as gettext_module
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from jinja2 import Environment, PackageLoader, pass_context, select_autoescape
from starlette.requests import Request
from starlette.responses import Response

DOMAIN = "messages"
DEFAULT_LANGUAGE = "en"
LANGUAGE_COOKIE = "tandem_lang"
SHIPPED = Path(__file__).with_name("locale")
TRANSLATION = "http://hl7.org/fhir/StructureDefinition/translation"


def N_(message: str) -> str:
    """Mark `message` for the catalogue without translating it here (it is translated
    where it is shown)."""
    return message


@dataclass(frozen=True)
class Translator:
    """One language's gettext functions."""

    language: str
    tag: str  # the language as HTML and HTTP write it (pt-BR)
    translations: gettext_module.NullTranslations

    def gettext(self, message: str) -> str:
        return self.translations.gettext(message)

    def ngettext(self, singular: str, plural: str, count: int) -> str:
        return self.translations.ngettext(singular, plural, count)

    def format_day(self, day: date) -> str:
        """A date as the language writes it in full (29 November 2026)."""
        try:
            return format_date(day, format="long", locale=Locale.parse(self.tag, sep="-"))
        except (UnknownLocaleError, ValueError):
            return format_date(day, format="long", locale=DEFAULT_LANGUAGE)


def _key(language: str) -> str:
    """Language tags compared case-insensitively, `_` and `-` alike (pt_BR = pt-br)."""
    return language.strip().replace("_", "-").lower()


@cache
def catalogues(extra: str | None = None) -> dict[str, Translator]:
    """Every language there is a catalogue for, shipped and under `extra`, by `_key`."""
    found: dict[str, Translator] = {}
    for root in (SHIPPED, Path(extra) if extra else None):
        if root is None or not root.is_dir():
            continue
        for po in sorted(root.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
            language = po.parent.parent.name
            with po.open("rb") as source:
                catalogue = read_po(source, locale=None, domain=DOMAIN)
            compiled = io.BytesIO()
            write_mo(compiled, catalogue)
            compiled.seek(0)
            translations = gettext_module.GNUTranslations(compiled)
            found[_key(language)] = Translator(
                _key(language), language.replace("_", "-"), translations
            )
    if DEFAULT_LANGUAGE not in found:
        found[DEFAULT_LANGUAGE] = Translator(
            DEFAULT_LANGUAGE, DEFAULT_LANGUAGE, gettext_module.NullTranslations()
        )
    for translator in found.values():
        if translator.language != DEFAULT_LANGUAGE:
            translator.translations.add_fallback(found[DEFAULT_LANGUAGE].translations)
    return found


def _available(request: Request) -> dict[str, Translator]:
    settings = request.app.state.settings
    return catalogues(getattr(settings, "locale_dir", None))


def _best(wanted: str, available: dict[str, Translator]) -> str | None:
    key = _key(wanted)
    if key in available:
        return key
    base = key.split("-", 1)[0]
    return base if base in available else None


def _accepted(header: str) -> list[str]:
    """Accept-Language's languages, most wanted first (RFC 9110 quality values)."""
    ranked = []
    for position, part in enumerate(header.split(",")):
        language, _, parameters = part.strip().partition(";")
        quality = 1.0
        if parameters.strip().startswith("q="):
            try:
                quality = float(parameters.strip()[2:])
            except ValueError:
                quality = 0.0
        if language and language != "*" and quality > 0:
            ranked.append((-quality, position, language))
    return [language for _, _, language in sorted(ranked)]


def translation_for(request: Request) -> Translator:
    """The request's language and its gettext functions."""
    available = _available(request)
    choices = [request.query_params.get("lang"), request.cookies.get(LANGUAGE_COOKIE)]
    choices.extend(_accepted(request.headers.get("accept-language", "")))
    for wanted in choices:
        found = _best(wanted, available) if wanted else None
        if found is not None:
            return available[found]
    return available[DEFAULT_LANGUAGE]


def translator_for(request: Request) -> Callable[[str], str]:
    """The gettext function for the request's language."""
    return translation_for(request).gettext


def languages(request: Request) -> list[tuple[str, str]]:
    """The languages on offer: (tag for `?lang=`, the language's own name)."""
    offered = []
    for translator in _available(request).values():
        try:
            name = Locale.parse(translator.tag, sep="-").get_display_name() or translator.tag
        except (UnknownLocaleError, ValueError):
            name = translator.tag
        offered.append((translator.tag, name[:1].upper() + name[1:]))
    return sorted(offered)


def remember_choice(request: Request, response: Response, secure: bool) -> None:
    """Keep a `?lang=` choice of a language on offer for the pages that follow."""
    wanted = request.query_params.get("lang")
    found = _best(wanted, _available(request)) if wanted else None
    if found is not None:
        response.set_cookie(
            LANGUAGE_COOKIE,
            found,
            max_age=365 * 24 * 3600,
            httponly=True,
            secure=secure,
            samesite="lax",
        )


@pass_context
def _gettext(context: Any, message: str) -> str:
    return context["translator"].gettext(message)


@pass_context
def _ngettext(context: Any, singular: str, plural: str, count: int) -> str:
    return context["translator"].ngettext(singular, plural, count)


@pass_context
def _format_day(context: Any, day: date | None) -> str:
    return "" if day is None else context["translator"].format_day(day)


@cache
def environment() -> Environment:
    """The Jinja2 environment for `api/templates`: autoescaped, with the i18n extension.

    Its gettext functions translate into the language of the `translator` each
    render is given (`render` gives the request's), so one environment serves
    every language at once."""
    env = Environment(
        loader=PackageLoader("api", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.filters["day"] = _format_day
    return env


def render(request: Request, name: str, **context: Any) -> str:
    """The template `name` rendered in the request's language."""
    translator = translation_for(request)
    return (
        environment()
        .get_template(name)
        .render(
            translator=translator,
            language=translator.tag,
            languages=languages(request),
            **context,
        )
    )


def fhir_text(element: Any, key: str, language: str) -> str | None:
    """`element[key]` in `language` when its `_key` carries FHIR's translation extension
    for it (or for the language's base: `fr` for `fr-CA`), else as written."""
    written = element.get(key) if isinstance(element, dict) else None
    written = written if isinstance(written, str) else None
    primitive = element.get(f"_{key}") if isinstance(element, dict) else None
    extensions = primitive.get("extension") if isinstance(primitive, dict) else None
    if not isinstance(extensions, list):
        return written
    wanted = _key(language)
    by_language: dict[str, str] = {}
    for extension in extensions:
        if not isinstance(extension, dict) or extension.get("url") != TRANSLATION:
            continue
        parts = {
            part.get("url"): part
            for part in extension.get("extension", [])
            if isinstance(part, dict)
        }
        lang = parts.get("lang", {}).get("valueCode")
        content = parts.get("content", {}).get("valueString")
        if isinstance(lang, str) and isinstance(content, str):
            by_language[_key(lang)] = content
    return by_language.get(wanted) or by_language.get(wanted.split("-", 1)[0]) or written

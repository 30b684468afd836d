"""FHIR search, parsed once into one neutral structure.

`SEARCH_PARAMETERS` is the single list of what can be searched: the parser
reads it, the CapabilityStatement is written from it, and the translation to
SQL (`api.services.fhir_search`) must cover every entry (a test holds it to
that). Parsing knows nothing of storage: it turns the query string into
`Search`, whose clauses hold typed values (date ranges, tokens, references,
strings, canonicals), or raises `SearchError` naming the parameter.

Semantics (FHIR R4 search, section 3.1.1):
- Repeating a parameter ANDs; commas inside one value OR.
- Dates: a partial date is the range it implies (`2026-11` is all of
  November, UTC where no zone is given); prefixes eq ne gt lt ge le sa eb.
- Tokens: `code`, `system|code`, `|code` (no system), `system|` (any code).
- References: `Type/id` or `id`; string: starts-with, case-insensitive,
  `:exact` and `:contains` modifiers.
- Result parameters: `_count` (capped), `_sort`, `_summary=count`,
  `_include`, `_format`; `_cursor` is this server's own paging position.
- Unknown parameters are ignored and reported, unless the caller sends
  `Prefer: handling=strict`, which makes them an error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Literal

DEFAULT_COUNT = 20
MAX_COUNT = 200

ParameterType = Literal["token", "reference", "date", "string", "uri"]


@dataclass(frozen=True)
class Parameter:
    name: str
    type: ParameterType
    documentation: str
    targets: tuple[str, ...] = ()
    """For references: the resource types it may point to."""
    canonical: bool = False
    """A reference by canonical URL (`url` or `url|version`), not by id."""


@dataclass(frozen=True)
class ResourceSearch:
    parameters: dict[str, Parameter]
    sorts: tuple[str, ...]
    """Parameters (all dates) that `_sort` accepts, besides `_lastUpdated`."""
    includes: tuple[str, ...] = ()


def _params(*parameters: Parameter) -> dict[str, Parameter]:
    common = (
        Parameter("_id", "token", "the resource's logical id"),
        Parameter("_lastUpdated", "date", "when the resource last changed"),
    )
    return {p.name: p for p in (*common, *parameters)}


_PATIENT = ("Patient",)
SEARCH_PARAMETERS: dict[str, ResourceSearch] = {
    "Patient": ResourceSearch(
        _params(
            Parameter("identifier", "token", "an identifier of the client (system|value)"),
            Parameter("name", "string", "the client's name: starts with, any case"),
            Parameter("birthdate", "date", "the client's date of birth"),
        ),
        sorts=(),
    ),
    "Group": ResourceSearch(
        _params(
            Parameter("identifier", "token", "the couple's identifier (system|value)"),
            Parameter("member", "reference", "a partner in the couple", _PATIENT),
        ),
        sorts=(),
    ),
    "Questionnaire": ResourceSearch(
        _params(
            Parameter("url", "uri", "the canonical URL, exactly"),
            Parameter("version", "token", "the business version"),
            Parameter("title", "string", "the title: starts with, any case"),
        ),
        sorts=(),
    ),
    "QuestionnaireResponse": ResourceSearch(
        _params(
            Parameter("subject", "reference", "the client who answered", _PATIENT),
            Parameter("patient", "reference", "the client who answered", _PATIENT),
            Parameter(
                "questionnaire",
                "reference",
                "the Questionnaire answered, by canonical: url or url|version",
                ("Questionnaire",),
                canonical=True,
            ),
            Parameter("authored", "date", "when the answers were given"),
            Parameter("status", "token", "in-progress | completed | amended"),
            Parameter("identifier", "token", "the response's own identifier (system|value)"),
            Parameter(
                "based-on", "reference", "the intervention plan it was homework of", ("CarePlan",)
            ),
        ),
        sorts=("authored",),
        includes=("QuestionnaireResponse:questionnaire",),
    ),
    "Observation": ResourceSearch(
        _params(
            Parameter("subject", "reference", "the client scored", _PATIENT),
            Parameter("patient", "reference", "the client scored", _PATIENT),
            Parameter("code", "token", "the scale: the instrument's canonical URL | scale code"),
            Parameter("date", "date", "when the scored answers were given"),
            Parameter(
                "derived-from",
                "reference",
                "the QuestionnaireResponse scored",
                ("QuestionnaireResponse",),
            ),
        ),
        sorts=("date",),
        includes=("Observation:derived-from",),
    ),
    "Task": ResourceSearch(
        _params(
            Parameter("patient", "reference", "the client asked", _PATIENT),
            Parameter("subject", "reference", "the client asked (Task.for)", _PATIENT),
            Parameter("owner", "reference", "who is to do it: the client", _PATIENT),
            Parameter("focus", "reference", "the Questionnaire to fill in", ("Questionnaire",)),
            Parameter("status", "token", "requested | in-progress | completed | cancelled"),
            Parameter("code", "token", "what to do: complete-questionnaire"),
            Parameter("authored-on", "date", "when the assignment was made"),
            Parameter("modified", "date", "when the assignment last changed"),
            Parameter(
                "based-on", "reference", "the intervention plan it comes from", ("CarePlan",)
            ),
        ),
        sorts=("authored-on", "modified"),
    ),
    "CarePlan": ResourceSearch(
        _params(
            Parameter("subject", "reference", "the couple the plan is for", ("Group",)),
            Parameter("patient", "reference", "a partner in the couple", _PATIENT),
            Parameter("status", "token", "draft | active | revoked (superseded)"),
            Parameter("category", "token", "couple-plan (Tandem's plan category)"),
        ),
        sorts=(),
    ),
}

RESULT_PARAMETERS = frozenset({"_count", "_sort", "_summary", "_include", "_format", "_cursor"})


class SearchError(ValueError):
    """A search the server cannot run as asked: `parameter` names the culprit."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


# Values


@dataclass(frozen=True)
class DateRange:
    """A search date: its prefix and the half-open UTC range [start, end) it implies."""

    prefix: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Token:
    system: str | None
    """None: any system; "": no system at all (`|code`)."""
    code: str | None
    """None: any code (`system|`)."""


@dataclass(frozen=True)
class Reference:
    type: str | None
    id: str


@dataclass(frozen=True)
class Text:
    value: str
    match: Literal["starts", "exact", "contains"]


@dataclass(frozen=True)
class Canonical:
    url: str
    version: str | None


Value = DateRange | Token | Reference | Text | Canonical


@dataclass(frozen=True)
class Clause:
    """One parameter as given once: true when any of its values matches."""

    parameter: Parameter
    values: tuple[Value, ...]


@dataclass(frozen=True)
class Sort:
    parameter: str
    descending: bool


@dataclass(frozen=True)
class Search:
    resource_type: str
    clauses: tuple[Clause, ...] = ()
    count: int = DEFAULT_COUNT
    sort: Sort = Sort("_default", False)
    summary_count: bool = False
    includes: tuple[str, ...] = ()
    cursor: str | None = None
    ignored: tuple[str, ...] = ()
    """Unknown parameters, left out (lenient handling)."""
    given: tuple[tuple[str, str], ...] = field(default=())
    """The parameters that were used, for the Bundle's links."""


def parse_search(
    resource_type: str, pairs: Iterable[tuple[str, str]], strict: bool = False
) -> Search:
    """The search `pairs` (query string and/or form body) ask of `resource_type`."""
    known = SEARCH_PARAMETERS[resource_type]
    clauses: list[Clause] = []
    ignored: list[str] = []
    given: list[tuple[str, str]] = []
    result: dict[str, str] = {}
    includes: list[str] = []
    for name, raw in pairs:
        base, _, modifier = name.partition(":")
        if base in RESULT_PARAMETERS:
            if base == "_include":
                if raw not in known.includes:
                    raise SearchError(name, f"_include={raw} is not supported on {resource_type}")
                includes.append(raw)
            elif base in result:
                raise SearchError(name, f"{base} may be given once")
            else:
                result[base] = raw
            if base != "_cursor":
                given.append((name, raw))
            continue
        parameter = known.parameters.get(base)
        if parameter is None:
            if strict:
                raise SearchError(name, f"{resource_type} has no search parameter '{base}'")
            ignored.append(name)
            continue
        clauses.append(Clause(parameter, _values(parameter, modifier, raw, name)))
        given.append((name, raw))
    _check_format(result.get("_format"))
    return Search(
        resource_type=resource_type,
        clauses=tuple(clauses),
        count=_count(result.get("_count")),
        sort=_sort(resource_type, result.get("_sort")),
        summary_count=_summary(result.get("_summary")),
        includes=tuple(includes),
        cursor=result.get("_cursor"),
        ignored=tuple(ignored),
        given=tuple(given),
    )


def _check_format(value: str | None) -> None:
    if value not in (None, "json", "application/json", "application/fhir+json"):
        raise SearchError("_format", f"_format={value} is not supported: this server speaks JSON")


def _count(value: str | None) -> int:
    if value is None:
        return DEFAULT_COUNT
    if not value.isdigit():
        raise SearchError("_count", "_count must be a whole number")
    return min(int(value), MAX_COUNT)


def _sort(resource_type: str, value: str | None) -> Sort:
    if value is None:
        return Sort("_default", False)
    descending = value.startswith("-")
    name = value[1:] if descending else value
    allowed = ("_lastUpdated", *SEARCH_PARAMETERS[resource_type].sorts)
    if "," in value or name not in allowed:
        raise SearchError("_sort", f"_sort takes one of {', '.join(allowed)} (- for descending)")
    return Sort(name, descending)


def _summary(value: str | None) -> bool:
    if value in (None, "false"):
        return False
    if value == "count":
        return True
    raise SearchError("_summary", "_summary takes count or false")


_MODIFIERS = {"string": ("", "exact", "contains"), "token": ("",), "reference": ("",)}


def _values(parameter: Parameter, modifier: str, raw: str, name: str) -> tuple[Value, ...]:
    if modifier not in _MODIFIERS.get(parameter.type, ("",)):
        raise SearchError(name, f"the modifier :{modifier} is not supported on {parameter.name}")
    parts = _split(raw)
    if not parts or any(part == "" for part in parts):
        raise SearchError(name, f"{parameter.name} needs a value")
    if parameter.type == "date":
        return tuple(parse_date(part, name) for part in parts)
    if parameter.type == "token":
        return tuple(_token(part) for part in parts)
    if parameter.type == "uri":
        return tuple(Text(_unescape(part), "exact") for part in parts)
    if parameter.type == "string":
        match = {"": "starts", "exact": "exact", "contains": "contains"}[modifier]
        return tuple(Text(_unescape(part), match) for part in parts)  # type: ignore[arg-type]
    if parameter.canonical:
        return tuple(_canonical(part) for part in parts)
    return tuple(_reference(parameter, part, name) for part in parts)


def _split(raw: str) -> list[str]:
    """Values split on commas not escaped with a backslash; `\\,` `\\|` `\\$` unescaped later."""
    parts, current, escaped = [], [], False
    for character in raw:
        if escaped:
            current.append(character)
            escaped = False
        elif character == "\\":
            current.append(character)
            escaped = True
        elif character == ",":
            parts.append("".join(current))
            current = []
        else:
            current.append(character)
    parts.append("".join(current))
    return parts


def _unescape(value: str) -> str:
    return re.sub(r"\\([\\,|$])", r"\1", value)


def _token(value: str) -> Token:
    match = re.search(r"(?<!\\)\|", value)
    if match is None:
        return Token(None, _unescape(value))
    system, code = value[: match.start()], value[match.end() :]
    return Token(_unescape(system), _unescape(code) or None)


def _canonical(value: str) -> Canonical:
    url, separator, version = _unescape(value).partition("|")
    return Canonical(url, version if separator and version else None)


def _reference(parameter: Parameter, value: str, name: str) -> Reference:
    value = _unescape(value)
    kind, separator, identity = value.rpartition("/")
    if not separator:
        return Reference(None, value)
    kind = kind.rsplit("/", 1)[-1]  # an absolute URL: its last two segments
    if kind not in parameter.targets:
        raise SearchError(
            name, f"{parameter.name} refers to {' or '.join(parameter.targets)}, not {kind}"
        )
    return Reference(kind, identity)


_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb")
_DATE = re.compile(
    r"^(?P<year>\d{4})(-(?P<month>\d{2})(-(?P<day>\d{2})"
    r"(T(?P<hour>\d{2}):(?P<minute>\d{2})(:(?P<second>\d{2})(?P<fraction>\.\d{1,6})?)?"
    r"(?P<zone>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


def parse_date(value: str, name: str = "date") -> DateRange:
    """A date search value: prefix and the range its precision implies (UTC if no zone)."""
    prefix = value[:2] if value[:2] in _PREFIXES else "eq"
    if value[:2] == "ap":
        raise SearchError(name, "the ap (approximately) prefix is not supported")
    text = value[2:] if value[:2] in _PREFIXES else value
    match = _DATE.match(text)
    if match is None:
        raise SearchError(name, f"'{value}' is not a FHIR date (YYYY, YYYY-MM, YYYY-MM-DD, ...)")
    try:
        return DateRange(prefix, *_range(match))
    except ValueError as error:
        raise SearchError(name, f"'{value}' is not a real date") from error


def _range(match: re.Match[str]) -> tuple[datetime, datetime]:
    part = {k: v for k, v in match.groupdict().items() if v is not None}
    year = int(part["year"])
    if "month" not in part:
        return datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
    month = int(part["month"])
    if "day" not in part:
        start = datetime(year, month, 1, tzinfo=UTC)
        following = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
        return start, following
    day = date(year, month, int(part["day"]))
    if "hour" not in part:
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return start, start + timedelta(days=1)
    zone = part.get("zone", "Z")
    moment = datetime.fromisoformat(
        f"{day.isoformat()}T{part['hour']}:{part['minute']}:{part.get('second', '00')}"
        f"{part.get('fraction', '')}{'+00:00' if zone == 'Z' else zone}"
    ).astimezone(UTC)
    if "second" not in part:
        step = timedelta(minutes=1)
    elif "fraction" not in part:
        step = timedelta(seconds=1)
    else:
        step = timedelta(microseconds=10 ** (7 - len(part["fraction"])))
    return moment, moment + step

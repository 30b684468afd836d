"""FHIR Bulk Data export (`$export`), the parts that know nothing of storage.

- `parse_export`: the kick-off's parameters (query string, and a POST's
  `Parameters` body through `parameters_pairs`) as an `ExportRequest`, or
  `ExportError` naming the parameter. `_type` takes the types Tandem exports,
  `_since` an instant, `_outputFormat` the three spellings of ndjson the
  specification requires. Other parameters of the specification
  (`_typeFilter`, `_elements`, `patient`, `includeAssociatedData`, ...) are
  not supported: an error, or ignored with `Prefer: handling=lenient`.
- `ndjson_line`: one resource as one line of an output file.
- `manifest`: the completion manifest a finished job's status answers with.

https://hl7.org/fhir/uv/bulkdata/export.html (STU 2)
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

NDJSON = "application/fhir+ndjson"
OUTPUT_FORMATS = frozenset({"application/fhir+ndjson", "application/ndjson", "ndjson"})

EXPORT_TYPES: tuple[str, ...] = (
    "Patient",
    "Group",
    "Questionnaire",
    "QuestionnaireResponse",
    "Observation",
    "Task",
    "CarePlan",
)
"""Every type Tandem exports (every type it searches), in the order a job writes them."""

KICK_OFF_PARAMETERS = frozenset({"_type", "_since", "_outputFormat"})

OPERATIONS = {
    "export": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export",
    "patient-export": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export",
    "group-export": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export",
}


class ExportError(ValueError):
    """A kick-off the server cannot run as asked: `parameter` names the culprit."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


@dataclass(frozen=True)
class ExportRequest:
    types: tuple[str, ...]
    """The types to export, in `EXPORT_TYPES` order."""
    since: datetime | None
    ignored: tuple[str, ...] = ()
    """Parameters left out under `Prefer: handling=lenient`."""


def parse_export(
    pairs: Iterable[tuple[str, str]],
    lenient: bool = False,
    allowed: Sequence[str] = EXPORT_TYPES,
) -> ExportRequest:
    """The export the kick-off's parameters ask for; `allowed` are the types it may name
    (and exports when `_type` is absent)."""
    types: list[str] = []
    single: dict[str, str] = {}
    ignored: list[str] = []
    for name, raw in pairs:
        if name not in KICK_OFF_PARAMETERS:
            if not lenient:
                raise ExportError(
                    name,
                    f"the parameter '{name}' is not supported by this server's $export "
                    "(send Prefer: handling=lenient to have it ignored)",
                )
            ignored.append(name)
            continue
        if name == "_type":
            types += [part.strip() for part in raw.split(",")]
            continue
        if name in single:
            raise ExportError(name, f"{name} may be given once")
        single[name] = raw
    fmt = single.get("_outputFormat")
    # a '+' sent unencoded in a query string arrives as a space
    if fmt is not None and fmt.replace(" ", "+") not in OUTPUT_FORMATS:
        raise ExportError(
            "_outputFormat",
            f"_outputFormat={fmt} is not supported: this server writes {NDJSON} "
            "(also accepted as application/ndjson and ndjson)",
        )
    since = None if "_since" not in single else parse_instant(single["_since"], "_since")
    return ExportRequest(_types(types, allowed, lenient, ignored), since, tuple(ignored))


def _types(
    named: list[str], allowed: Sequence[str], lenient: bool, ignored: list[str]
) -> tuple[str, ...]:
    if not named:
        return tuple(allowed)
    unknown = [kind for kind in named if kind not in allowed]
    if unknown and not lenient:
        raise ExportError(
            "_type",
            f"_type names {', '.join(repr(k) for k in unknown)}, which this export does not "
            f"include; it takes {', '.join(allowed)}",
        )
    ignored += [f"_type={kind}" for kind in unknown]
    wanted = [kind for kind in allowed if kind in named]
    if not wanted:
        raise ExportError(
            "_type", f"_type names no type this export includes: {', '.join(allowed)}"
        )
    return tuple(wanted)


_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")


def parse_instant(value: str, name: str) -> datetime:
    """A FHIR instant (`2026-11-28T09:30:00Z`, seconds and a zone required), in UTC.

    A '+' offset sent unencoded in a query string arrives as a space; it is read as '+'.
    """
    text = value.strip().replace(" ", "+") if value.count(" ") == 1 else value
    if not _INSTANT.match(text):
        raise ExportError(
            name, f"{name} must be a FHIR instant with a time zone, e.g. 2026-11-28T09:30:00Z"
        )
    whole, _, rest = text.partition(".")
    if rest:  # Python reads at most 6 digits of fraction
        digits = re.match(r"\d+", rest).group()  # type: ignore[union-attr]
        text = f"{whole}.{digits[:6].ljust(6, '0')}{rest[len(digits) :]}"
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ExportError(name, f"{name}={value} is not a real moment") from None
    return moment.astimezone(UTC)


def parameters_pairs(resource: Any) -> list[tuple[str, str]]:
    """The (name, value) pairs of a kick-off's `Parameters` body (a POST), each value as the
    text the query string would carry; ExportError for a body that is not one."""
    if not isinstance(resource, dict) or resource.get("resourceType") != "Parameters":
        raise ExportError("body", "a POST $export takes a FHIR Parameters resource (or no body)")
    pairs = []
    for index, parameter in enumerate(resource.get("parameter") or []):
        name = parameter.get("name") if isinstance(parameter, dict) else None
        if not isinstance(name, str) or not name:
            raise ExportError(f"parameter[{index}]", "each parameter needs a name")
        values = [key for key in parameter if key.startswith("value")]
        if len(values) != 1 or not isinstance(parameter[values[0]], str):
            raise ExportError(
                name, f"the parameter '{name}' needs one value, as a string (valueString, ...)"
            )
        pairs.append((name, parameter[values[0]]))
    return pairs


def ndjson_line(resource: dict[str, Any]) -> str:
    """One resource as one line of an ndjson file: compact JSON, then a newline."""
    return json.dumps(resource, ensure_ascii=False, allow_nan=False, separators=(",", ":")) + "\n"


def error_line(diagnostics: str, code: str = "exception") -> str:
    """One line of an error file: an OperationOutcome about one resource left out."""
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": diagnostics}],
    }
    return ndjson_line(outcome)


def manifest(
    transaction_time: datetime,
    request: str,
    files_url: str,
    output: Sequence[dict[str, Any]],
    errors: Sequence[dict[str, Any]],
) -> dict[str, Any]:
    """The completion manifest; `output` and `errors` list `{type, name, count}` per file,
    each downloadable at `files_url/name`."""

    def listed(entry: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": entry["type"],
            "url": f"{files_url}/{entry['name']}",
            "count": entry["count"],
        }

    return {
        "transactionTime": transaction_time.isoformat(),
        "request": request,
        "requiresAccessToken": True,
        "output": [listed(entry) for entry in output],
        "error": [listed(entry) for entry in errors],
    }

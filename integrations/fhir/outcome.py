"""OperationOutcome: how every error under /fhir reads.

`issue[].code` comes from FHIR's IssueType value set, chosen by the HTTP
status; each problem with a place (a JSON pointer into the body, or a
parameter) becomes an issue of its own with that place in `expression`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

Severity = Literal["fatal", "error", "warning", "information"]

ISSUE_CODE_BY_STATUS = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "conflict",
    410: "deleted",
    412: "conflict",
    413: "too-long",
    415: "not-supported",
    422: "processing",
    429: "throttled",
    500: "exception",
}


@dataclass(frozen=True)
class Issue:
    diagnostics: str
    code: str
    severity: Severity = "error"
    expression: str | None = None


def pointer_to_expression(pointer: str) -> str:
    """A JSON pointer into a resource (`/item/0/answer/1`) as a FHIRPath-like expression
    (`item[0].answer[1]`), the form `OperationOutcome.issue.expression` takes."""
    expression = ""
    for part in pointer.lstrip("#").strip("/").split("/") if pointer.strip("#/") else []:
        part = part.replace("~1", "/").replace("~0", "~")
        expression += f"[{part}]" if part.isdigit() else (f".{part}" if expression else part)
    return expression


def operation_outcome(issues: Sequence[Issue], resource_type: str | None = None) -> dict[str, Any]:
    def one(issue: Issue) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "severity": issue.severity,
            "code": issue.code,
            "diagnostics": issue.diagnostics,
        }
        if issue.expression:
            where = issue.expression
            entry["expression"] = [f"{resource_type}.{where}" if resource_type else where]
        return entry

    return {"resourceType": "OperationOutcome", "issue": [one(issue) for issue in issues]}


def issue_code(status: int) -> str:
    return ISSUE_CODE_BY_STATUS.get(status, "processing" if status < 500 else "exception")

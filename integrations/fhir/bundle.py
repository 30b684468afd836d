"""Search results as a FHIR `Bundle` of type searchset."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from integrations.fhir.outcome import Issue, operation_outcome


def searchset(
    base: str,
    resource_type: str,
    given: Sequence[tuple[str, str]],
    matches: Sequence[dict[str, Any]],
    includes: Sequence[dict[str, Any]],
    total: int,
    next_cursor: str | None,
    ignored: Sequence[str] = (),
) -> dict[str, Any]:
    """`base` is the FHIR base URL; `given` the parameters the search used (for the links);
    `ignored` the unknown parameters left out, reported in an OperationOutcome entry."""

    def link(extra: Sequence[tuple[str, str]] = ()) -> str:
        query = urlencode([*given, *extra])
        return f"{base}/{resource_type}" + (f"?{query}" if query else "")

    def entry(resource: dict[str, Any], mode: str) -> dict[str, Any]:
        return {
            "fullUrl": f"{base}/{resource['resourceType']}/{resource['id']}",
            "resource": resource,
            "search": {"mode": mode},
        }

    links = [{"relation": "self", "url": link()}]
    if next_cursor is not None:
        links.append({"relation": "next", "url": link([("_cursor", next_cursor)])})
    entries = [entry(r, "match") for r in matches] + [entry(r, "include") for r in includes]
    if ignored:
        outcome = operation_outcome(
            [
                Issue(
                    f"the search parameter '{name}' is not supported on {resource_type} "
                    "and was ignored",
                    "not-supported",
                    "warning",
                )
                for name in ignored
            ]
        )
        entries.append({"resource": outcome, "search": {"mode": "outcome"}})
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "link": links,
    }
    if entries:  # FHIR JSON has no empty arrays
        bundle["entry"] = entries
    return bundle

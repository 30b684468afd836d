"""Domain errors: what services raise. The edges turn them into problem+json or OperationOutcome."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldProblem:
    """One bad field: a JSON pointer (RFC 6901) into what was validated, and why.

    The pointer is relative to the document the service checked; the edge that
    received the request prefixes it with where that document sat in the body.
    """

    pointer: str
    detail: str
    code: str | None = None


class TandemError(Exception):
    status: int = 400
    title: str = "Bad request"
    slug: str = "bad-request"

    def __init__(self, detail: str, errors: list[FieldProblem] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class NotFound(TandemError):
    status, title, slug = 404, "Not found", "not-found"


class Conflict(TandemError):
    status, title, slug = 409, "Conflict", "conflict"


class InvalidInput(TandemError):
    status, title, slug = 422, "Invalid input", "invalid-input"


class Unavailable(TandemError):
    status, title, slug = 503, "Service unavailable", "unavailable"

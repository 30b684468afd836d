"""Domain errors: what services raise. The edges turn them into problem+json or OperationOutcome."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldProblem:
    """One bad field: a JSON pointer (RFC 6901) into what was validated (or a parameter), and why.

    The pointer is relative to the document the service checked; the edge that
    received the request prefixes it with where that document sat in the body.
    """

    pointer: str | None
    detail: str
    code: str | None = None
    parameter: str | None = None

    @classmethod
    def of_parameter(cls, name: str, detail: str) -> FieldProblem:
        """A bad query or path parameter rather than a member of the body."""
        return cls(None, detail, None, name)


class TandemError(Exception):
    status: int = 400
    title: str = "Bad request"
    slug: str = "bad-request"

    def __init__(
        self,
        detail: str,
        errors: list[FieldProblem] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.headers = headers or {}


class Unauthorized(TandemError):
    status, title, slug = 401, "Unauthorized", "unauthorized"


class Forbidden(TandemError):
    status, title, slug = 403, "Forbidden", "forbidden"


class NotFound(TandemError):
    status, title, slug = 404, "Not found", "not-found"


class Conflict(TandemError):
    status, title, slug = 409, "Conflict", "conflict"


class PreconditionFailed(TandemError):
    status, title, slug = 412, "Precondition failed", "precondition-failed"


class InvalidInput(TandemError):
    status, title, slug = 422, "Invalid input", "invalid-input"


class BadRequest(TandemError):
    """A request the server cannot act on as asked (a bad search parameter, say)."""

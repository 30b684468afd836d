"""SMART on FHIR scopes (v2 syntax, with v1 read/write accepted) and what they allow.

A scope reads `system/<Resource>.<permissions>`: the resource type or `*`, and
the letters of `cruds` it grants (create, read, update, delete, search), in
that order. v1 suffixes are accepted and translated: `.read` = `rs`,
`.write` = `cud`, `.*` = `cruds`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

PERMISSIONS = "cruds"
_V1 = {"read": "rs", "write": "cud", "*": PERMISSIONS}
_SCOPE = re.compile(r"^(system|user|patient)/([A-Za-z]+|\*)\.([a-z*]+)$")


class ScopeSyntaxError(ValueError):
    """A scope string that is not SMART syntax."""


@dataclass(frozen=True)
class Scope:
    context: str
    resource: str
    permissions: frozenset[str]

    @classmethod
    def parse(cls, text: str) -> Scope:
        match = _SCOPE.match(text)
        if match is None:
            raise ScopeSyntaxError(f"'{text}' is not a SMART scope (e.g. system/Patient.rs)")
        context, resource, suffix = match.groups()
        letters = _V1.get(suffix, suffix)
        if not letters or set(letters) - set(PERMISSIONS) or letters != _ordered(set(letters)):
            raise ScopeSyntaxError(
                f"'{text}': permissions must be letters of 'cruds' in that order"
            )
        return cls(context, resource, frozenset(letters))

    def covers(self, resource: str) -> bool:
        return self.resource in ("*", resource)

    def __str__(self) -> str:
        return f"{self.context}/{self.resource}.{_ordered(self.permissions)}"


def _ordered(letters: Iterable[str]) -> str:
    return "".join(letter for letter in PERMISSIONS if letter in set(letters))


def parse_scopes(text: str | None) -> list[Scope]:
    return [Scope.parse(part) for part in (text or "").split()]


def allows(scopes: Iterable[Scope], resource: str, permission: str) -> bool:
    """Whether system scopes grant `permission` (one letter of cruds) on `resource`."""
    return any(
        s.context == "system" and s.covers(resource) and permission in s.permissions for s in scopes
    )


def grant(requested: str | None, allowed: str) -> str:
    """The scope to issue: what was asked for, narrowed to what the client may have.

    Nothing asked for means everything allowed. A requested scope keeps only
    the permissions some allowed scope gives on its resource; one left with
    none is dropped. The result may be empty (the caller refuses that).
    """
    permitted = parse_scopes(allowed)
    if not requested:
        return " ".join(str(s) for s in permitted)
    granted = []
    for scope in parse_scopes(requested):
        letters = {
            letter
            for letter in scope.permissions
            if any(
                p.context == scope.context
                and (p.resource == "*" or p.resource == scope.resource)
                and letter in p.permissions
                for p in permitted
            )
        }
        if letters:
            text = str(Scope(scope.context, scope.resource, frozenset(letters)))
            if text not in granted:
                granted.append(text)
    return " ".join(granted)

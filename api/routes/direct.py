"""`DirectRoute`: a route FastAPI matches and documents as usual, whose requests skip its
dependency solving.

FastAPI's request handler (solving the dependency tree, its exit stacks and
cache keys, validating each parameter through its model fields) cost reading
a response 18% of its instructions, and a portal submission about a tenth
(README, performance). A route declared with `route_class=DirectRoute` is
matched, documented and given its error handlers by FastAPI as any other,
from the same signature; only the call is made here. It takes only what it
can serve exactly as FastAPI would, and refuses anything else when the route
is declared:

- `request: Request`;
- path parameters, validated by pydantic against their annotation, each
  error reported as FastAPI reports it (`loc` ("path", name), a 422);
- one JSON body parameter (`= Body(...)`, not embedded), read as FastAPI
  reads it (parsed only when the content type is JSON; a body that does not
  parse is a 422 at ("body", position) before any dependency runs), then
  validated against its annotation after the path parameters, its errors
  at ("body", ...);
- dependencies that are callables of the request alone, each once and with
  no `max_concurrency`, in their order: coroutines returning a value
  (`api.auth.dependencies.caller_for`), or async generators with
  `scope="function"` (`portal_call`), entered by FastAPI's own code
  (`_solve_generator`) on the stack FastAPI leaves, with any error raised
  inside, before it sends the response;

and the endpoint must be a coroutine returning a `Response` (no response
model to serialise). Dependencies declared on the route or its routers
(`dependencies=[...]`) are refused too: when it is declared, or for those
given to `include_router`, at its first request. While a test overrides one
of its dependencies (`app.dependency_overrides`), or the app limits bodies
with FastAPI's own `max_body_size`, FastAPI's own handler answers.
FastAPI's telemetry (operation spans) does not see these calls; Tandem
configures none. Use it for the hot paths, nowhere else.
"""

from __future__ import annotations

import email.message
import inspect
import json
import typing
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from fastapi import Request, Response, params
from fastapi.datastructures import DefaultPlaceholder
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import _solve_generator
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute, _effective_route_context_var
from pydantic import TypeAdapter, ValidationError
from pydantic.fields import FieldInfo
from starlette.exceptions import HTTPException
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY

# A dependency: its parameter's name, the callable FastAPI resolved, and for one that
# yields, FastAPI's own record of it (entered by FastAPI's own code).
Dependency = tuple[str, Callable[[Request], Any], Dependant | None]


class DirectRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        # FastAPI asks for it as the route is made, and again for each router including it
        # (then with that router's dependencies in the context's dependant).
        context = _effective_route_context_var.get()
        route = context if context is not None and context.original_route is self else self
        # The dependencies as FastAPI resolved them: the objects `dependency_overrides` names.
        resolved = {d.name: d for d in route.dependant.dependencies if d.name}
        body = self.body_field.name if self.body_field is not None else None
        strict = getattr(route, "strict_content_type", True)
        overrides = getattr(route.dependency_overrides_provider, "dependency_overrides", None)
        call = _DirectCall(
            self.endpoint,
            set(self.param_convertors),
            resolved,
            body,
            strict.value if isinstance(strict, DefaultPlaceholder) else strict,
            {} if overrides is None else overrides,
            super().get_route_handler(),
        )
        if len(route.dependant.dependencies) != len(call.dependencies):
            raise TypeError(
                f"DirectRoute {self.endpoint.__name__}: dependencies declared on the route or "
                "a router are not run by it; use APIRoute"
            )
        return call.__call__


class _DirectCall:
    """The endpoint's arguments from the request, then the endpoint.

    `fastapi` (FastAPI's own handler for the route) answers instead while `overrides`
    (the app's `dependency_overrides`) name one of the dependencies, or while the app
    limits bodies itself (its errors are FastAPI's to make)."""

    def __init__(
        self,
        endpoint: Callable[..., Any],
        path_names: set[str],
        resolved: dict[str, Dependant],
        body_name: str | None,
        strict_content_type: bool,
        overrides: dict[Any, Any],
        fastapi: Callable[[Request], Awaitable[Response]],
    ) -> None:
        where = f"DirectRoute {endpoint.__name__}"
        if not inspect.iscoroutinefunction(endpoint):
            raise TypeError(f"{where}: the endpoint must be a coroutine function")
        hints = typing.get_type_hints(endpoint, include_extras=True)
        returned = hints.get("return")
        if not (inspect.isclass(returned) and issubclass(returned, Response)):
            raise TypeError(f"{where}: the endpoint must return a Response")
        self._endpoint = endpoint
        self._strict = strict_content_type
        self._overrides, self._fastapi = overrides, fastapi
        self._request: str | None = None
        self._path: list[tuple[str, TypeAdapter[Any]]] = []
        self._body: tuple[str, TypeAdapter[Any]] | None = None
        self.dependencies: list[Dependency] = []
        for name, parameter in inspect.signature(endpoint).parameters.items():
            hint = hints.get(name)
            marker = _depends_alone(hint)
            dependant = resolved.get(name) if marker is not None else None
            dependency = dependant.call if dependant is not None else None
            plain = parameter.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
            yields = _yields(dependency)
            if (
                dependant is not None
                and plain
                and _of_the_request_alone(dependency)
                and _once_and_unlimited(marker, dependency, self.dependencies)
                and (not yields or _left_before_the_response(marker))
            ):
                self.dependencies.append((name, dependency, dependant if yields else None))
            elif hint is Request and plain:
                self._request = name
            elif name in path_names and plain and _plain_type(hint):
                self._path.append((name, TypeAdapter(hint)))
            elif name == body_name and plain and _json_body(parameter.default, hint):
                self._body = (name, TypeAdapter(hint))
            else:
                raise TypeError(
                    f"{where}: cannot serve parameter {name!r} as FastAPI would; "
                    "only the request, annotated path parameters, a JSON body and "
                    "dependencies on the request alone, each once"
                )

    async def __call__(self, request: Request) -> Response:
        if (self._overrides and any(d in self._overrides for _, d, _ in self.dependencies)) or (
            self._body is not None and MAX_BODY_SIZE_SCOPE_KEY in request.scope
        ):
            return await self._fastapi(request)
        body = await self._read_body(request) if self._body is not None else _MISSING
        arguments: dict[str, Any] = {}
        for name, dependency, dependant in self.dependencies:
            if dependant is None:
                arguments[name] = await dependency(request)
            else:  # entered as FastAPI enters it, on the stack it leaves before responding
                arguments[name] = await _solve_generator(
                    dependant=dependant,
                    stack=request.scope["fastapi_function_astack"],
                    sub_values={dependant.request_param_name: request},
                    request=request,
                )
        self._validate(request, body, arguments)
        return await self._endpoint(**arguments)

    def _validate(self, request: Request, body: Any, arguments: dict[str, Any]) -> None:
        """The path parameters, then the body, into `arguments`; every problem, as FastAPI
        lists them, in one `RequestValidationError`."""
        errors: list[Any] = []
        given = request.path_params
        for name, adapter in self._path:
            try:
                arguments[name] = adapter.validate_python(given[name])
            except ValidationError as invalid:
                errors.extend(_located(invalid, "path", name))
        if self._body is not None:
            name, adapter = self._body
            if body is _MISSING:
                errors.append(
                    {"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}
                )
            else:
                try:
                    arguments[name] = adapter.validate_python(body)
                except ValidationError as invalid:
                    errors.extend(_located(invalid, "body"))
        if errors:
            raise RequestValidationError(errors, body=None if body is _MISSING else body)
        if self._request is not None:
            arguments[self._request] = request

    async def _read_body(self, request: Request) -> Any:
        """The body as FastAPI reads it for a JSON parameter: parsed when its content type
        is JSON (or absent, when the route is not strict), else its bytes; none, if empty."""
        try:
            raw = await request.body()
            if not raw:
                return _MISSING
            kind = request.headers.get("content-type")
            if not kind:
                return raw if self._strict else json.loads(raw)
            message = email.message.Message()
            message["content-type"] = kind
            subtype = message.get_content_subtype()
            if message.get_content_maintype() == "application" and (
                subtype == "json" or subtype.endswith("+json")
            ):
                return json.loads(raw)
            return raw
        except json.JSONDecodeError as error:
            invalid = {
                "type": "json_invalid",
                "loc": ("body", error.pos),
                "msg": "JSON decode error",
                "input": {},
                "ctx": {"error": error.msg},
            }
            raise RequestValidationError([invalid], body=error.doc) from error
        except HTTPException:
            raise
        except Exception as error:
            raise HTTPException(400, "There was an error parsing the body") from error


_MISSING: Any = object()  # no body was sent


def _located(invalid: ValidationError, *where: str) -> list[dict[str, Any]]:
    return [
        {**error, "loc": (*where, *error["loc"])} for error in invalid.errors(include_url=False)
    ]


def _depends_alone(hint: Any) -> params.Depends | None:
    """The `Depends` of `Annotated[..., Depends(...)]` with no other FastAPI marker."""
    if typing.get_origin(hint) is not typing.Annotated:
        return None
    markers = [m for m in typing.get_args(hint)[1:] if isinstance(m, params.Depends | FieldInfo)]
    if len(markers) == 1 and isinstance(markers[0], params.Depends):
        return markers[0]
    return None


def _left_before_the_response(marker: params.Depends | None) -> bool:
    """Whether FastAPI leaves this yielding dependency before it sends the response."""
    return marker is not None and marker.scope == "function"


def _once_and_unlimited(
    marker: params.Depends | None, dependency: Any, before: list[Dependency]
) -> bool:
    """Whether a dependency is run with no limit of its own (`max_concurrency`), and not
    already by another parameter (FastAPI would run it once for both)."""
    if marker is None or getattr(marker, "max_concurrency", None) is not None:
        return False
    return all(dependency is not other for _, other, _ in before)


def _plain_type(hint: Any) -> bool:
    """A path parameter's annotation FastAPI reads as pydantic does: present, and without
    markers of its own (`Annotated[..., Path(...)]`)."""
    return hint is not None and typing.get_origin(hint) is not typing.Annotated


def _json_body(default: Any, hint: Any) -> bool:
    """A body parameter FastAPI reads as the whole JSON body: `= Body(...)`, required, not
    embedded, without constraints of its own, with a plain annotation."""
    return (
        type(default) is params.Body
        and default.is_required()
        and not default.embed
        and not default.metadata
        and _plain_type(hint)
    )


def _function_of(dependency: Any) -> Any:
    """What runs when `dependency` is called: itself, or its class's `__call__`."""
    return dependency if inspect.isfunction(dependency) else type(dependency).__call__


def _yields(dependency: Any) -> bool:
    return dependency is not None and inspect.isasyncgenfunction(_function_of(dependency))


def _of_the_request_alone(dependency: Any) -> bool:
    """Whether `dependency` is a coroutine, or an async generator, of one positional
    parameter, the request."""
    if dependency is None:
        return False
    call = _function_of(dependency)
    if not (inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call)):
        return False
    parameters = list(inspect.signature(dependency).parameters.values())
    if len(parameters) != 1 or parameters[0].kind is not inspect.Parameter.POSITIONAL_OR_KEYWORD:
        return False
    hints = typing.get_type_hints(call)
    return hints.get(parameters[0].name) is Request

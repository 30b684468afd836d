"""`DirectRoute`: a route FastAPI matches and documents as usual, whose requests skip its
dependency solving.

FastAPI's request handler (solving the dependency tree, its exit stacks and
cache keys, validating each parameter through its model fields) cost reading
a response 18% of its instructions (README, performance). A route declared
with `route_class=DirectRoute` is matched, documented and given its error
handlers by FastAPI as any other, from the same signature; only the call is
made here. It takes only what it can serve exactly as FastAPI would, and
refuses anything else when the route is declared:

- `request: Request`;
- path parameters, validated by pydantic against their annotation, each
  error reported as FastAPI reports it (`loc` ("path", name), a 422);
- dependencies that are callables of the request alone, returning a value
  (`api.auth.dependencies.caller_for`), solved first, as FastAPI solves
  dependencies before it validates parameters;

and the endpoint must be a coroutine returning a `Response` (no response
model to serialise). Dependencies declared on the route or its routers
(`dependencies=[...]`) are refused too: when it is declared, or for those
given to `include_router`, at its first request. While a test overrides one
of its dependencies (`app.dependency_overrides`), FastAPI's own handler
answers.
FastAPI's telemetry (operation spans) does not see these calls; Tandem
configures none. Use it for a hot read, nowhere else.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.params import Depends
from fastapi.routing import APIRoute, _effective_route_context_var
from pydantic import TypeAdapter, ValidationError
from pydantic.fields import FieldInfo


class DirectRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        # FastAPI asks for it as the route is made, and again for each router including it
        # (then with that router's dependencies in the context's dependant).
        context = _effective_route_context_var.get()
        route = context if context is not None and context.original_route is self else self
        # The dependencies as FastAPI resolved them: the objects `dependency_overrides` names.
        resolved = {d.name: d.call for d in route.dependant.dependencies if d.name}
        call = _DirectCall(self.endpoint, set(self.param_convertors), resolved)
        if len(route.dependant.dependencies) != len(call.dependencies):
            raise TypeError(
                f"DirectRoute {self.endpoint.__name__}: dependencies declared on the route or "
                "a router are not run by it; use APIRoute"
            )
        overrides = getattr(route.dependency_overrides_provider, "dependency_overrides", None)
        if overrides is not None:
            call.defer_to(overrides, super().get_route_handler())
        return call.__call__


class _DirectCall:
    """The endpoint's arguments from the request, then the endpoint."""

    def __init__(
        self, endpoint: Callable[..., Any], path_names: set[str], resolved: dict[str, Any]
    ) -> None:
        where = f"DirectRoute {endpoint.__name__}"
        if not inspect.iscoroutinefunction(endpoint):
            raise TypeError(f"{where}: the endpoint must be a coroutine function")
        hints = typing.get_type_hints(endpoint, include_extras=True)
        returned = hints.get("return")
        if not (inspect.isclass(returned) and issubclass(returned, Response)):
            raise TypeError(f"{where}: the endpoint must return a Response")
        self._endpoint = endpoint
        self._overrides: dict[Any, Any] = {}
        self._fastapi: Callable[[Request], Awaitable[Response]] | None = None
        self._request: str | None = None
        self._path: list[tuple[str, TypeAdapter[Any]]] = []
        self.dependencies: dict[str, Callable[[Request], Awaitable[Any]]] = {}
        for name, parameter in inspect.signature(endpoint).parameters.items():
            hint = hints.get(name)
            dependency = resolved.get(name) if _depends_alone(hint) else None
            plain = parameter.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
            if dependency is not None and plain and _of_the_request_alone(dependency):
                self.dependencies[name] = dependency
            elif hint is Request and plain:
                self._request = name
            elif name in path_names and plain and _plain_type(hint):
                self._path.append((name, TypeAdapter(hint)))
            else:
                raise TypeError(
                    f"{where}: cannot serve parameter {name!r} as FastAPI would; "
                    "only the request, annotated path parameters and dependencies on the "
                    "request alone"
                )

    def defer_to(
        self, overrides: dict[Any, Any], fastapi: Callable[[Request], Awaitable[Response]]
    ) -> None:
        """While `overrides` (the app's `dependency_overrides`) name one of the dependencies,
        `fastapi` (FastAPI's own handler for the route) answers instead."""
        self._overrides, self._fastapi = overrides, fastapi

    async def __call__(self, request: Request) -> Response:
        if self._overrides and any(d in self._overrides for d in self.dependencies.values()):
            assert self._fastapi is not None
            return await self._fastapi(request)
        arguments: dict[str, Any] = {}
        for name, dependency in self.dependencies.items():
            arguments[name] = await dependency(request)
        errors: list[Any] = []
        given = request.path_params
        for name, adapter in self._path:
            try:
                arguments[name] = adapter.validate_python(given[name])
            except ValidationError as invalid:
                errors.extend(
                    {**error, "loc": ("path", name, *error["loc"])}
                    for error in invalid.errors(include_url=False)
                )
        if errors:
            raise RequestValidationError(errors)
        if self._request is not None:
            arguments[self._request] = request
        return await self._endpoint(**arguments)


def _depends_alone(hint: Any) -> bool:
    """Whether `hint` is `Annotated[..., Depends(...)]` with no other FastAPI marker."""
    if typing.get_origin(hint) is not typing.Annotated:
        return False
    markers = [m for m in typing.get_args(hint)[1:] if isinstance(m, Depends | FieldInfo)]
    return len(markers) == 1 and isinstance(markers[0], Depends)


def _plain_type(hint: Any) -> bool:
    """A path parameter's annotation FastAPI reads as pydantic does: present, and without
    markers of its own (`Annotated[..., Path(...)]`)."""
    return hint is not None and typing.get_origin(hint) is not typing.Annotated


def _of_the_request_alone(dependency: Any) -> bool:
    """Whether `dependency` is a coroutine of one positional parameter, the request."""
    if dependency is None:
        return False
    call = dependency if inspect.isfunction(dependency) else type(dependency).__call__
    if not inspect.iscoroutinefunction(call):
        return False
    parameters = list(inspect.signature(dependency).parameters.values())
    if len(parameters) != 1 or parameters[0].kind is not inspect.Parameter.POSITIONAL_OR_KEYWORD:
        return False
    hints = typing.get_type_hints(call)
    return hints.get(parameters[0].name) is Request

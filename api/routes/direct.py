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
model to serialise). Use it for a hot read, nowhere else.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.params import Depends
from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError


class DirectRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        # FastAPI asks for it as the route is made, and again for each router including it.
        return _DirectCall(self.endpoint, set(self.param_convertors)).__call__


class _DirectCall:
    """The endpoint's arguments from the request, then the endpoint."""

    def __init__(self, endpoint: Callable[..., Any], path_names: set[str]) -> None:
        where = f"DirectRoute {endpoint.__name__}"
        if not inspect.iscoroutinefunction(endpoint):
            raise TypeError(f"{where}: the endpoint must be a coroutine function")
        hints = typing.get_type_hints(endpoint, include_extras=True)
        returned = hints.get("return")
        if not (inspect.isclass(returned) and issubclass(returned, Response)):
            raise TypeError(f"{where}: the endpoint must return a Response")
        self._endpoint = endpoint
        self._request: str | None = None
        self._path: list[tuple[str, TypeAdapter[Any]]] = []
        self._dependencies: list[tuple[str, Callable[[Request], Awaitable[Any]]]] = []
        for name in inspect.signature(endpoint).parameters:
            hint = hints.get(name)
            dependency = _dependency_of(hint)
            if hint is Request:
                self._request = name
            elif name in path_names:
                self._path.append((name, TypeAdapter(hint)))
            elif dependency is not None and _of_the_request_alone(dependency):
                self._dependencies.append((name, dependency))
            else:
                raise TypeError(
                    f"{where}: cannot serve parameter {name!r} as FastAPI would; "
                    "only the request, path parameters and dependencies on the request alone"
                )

    async def __call__(self, request: Request) -> Response:
        arguments: dict[str, Any] = {}
        for name, dependency in self._dependencies:
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


def _dependency_of(hint: Any) -> Any:
    """The callable of `Annotated[..., Depends(callable)]`, else None."""
    if typing.get_origin(hint) is not typing.Annotated:
        return None
    found = [m for m in typing.get_args(hint)[1:] if isinstance(m, Depends)]
    return found[0].dependency if len(found) == 1 else None


def _of_the_request_alone(dependency: Any) -> bool:
    """Whether `dependency` is a coroutine of one parameter, the request."""
    call = dependency if inspect.isfunction(dependency) else type(dependency).__call__
    if not inspect.iscoroutinefunction(call):
        return False
    parameters = list(inspect.signature(dependency).parameters.values())
    if len(parameters) != 1:
        return False
    hints = typing.get_type_hints(call)
    return hints.get(parameters[0].name) is Request

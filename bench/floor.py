"""The floor: a bare ASGI app answering a fixed JSON document, served like Tandem is."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, Response

from api.routes.direct import DirectRoute

BODY = b'{"status":"ok"}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


def _framework_app() -> Any:
    """A second floor: FastAPI itself, one dependency and an async endpoint, no database,
    the shape of Tandem's hot handlers (coroutines on the event loop)."""
    framework = FastAPI()

    async def dependency() -> int:
        return 1

    @framework.get("/")
    async def endpoint(value: int = Depends(dependency)) -> dict[str, int]:
        return {"ok": value}

    return framework


framework_app = _framework_app()


def _direct_app() -> Any:
    """A third floor: FastAPI with the route the way Tandem's submission has it, a
    `DirectRoute` (api/routes/direct.py, no dependency solving) whose endpoint takes one
    dependency on the request and returns a `Response`; no database."""
    framework = FastAPI()
    framework.router.add_api_route(
        "/", _direct_endpoint, methods=["GET"], route_class_override=DirectRoute
    )
    return framework


async def _direct_dependency(request: Request) -> int:
    return 1


async def _direct_endpoint(value: Annotated[int, Depends(_direct_dependency)]) -> Response:
    return Response(BODY, media_type="application/json")


direct_app = _direct_app()

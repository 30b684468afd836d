"""Request ids, the last-resort 500, and an access log that never records PHI.

The log line names the route template (`/v1/clients/{client_id}`), not the
path, so identifiers and portal tokens in URLs never reach the log; query
strings and bodies are never logged.
"""

from __future__ import annotations

import logging
import os
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import internal_error, log_unexpected, payload_too_large

REQUEST_ID_HEADER = "x-request-id"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

log = logging.getLogger("tandem.access")


def _route_template(scope: Scope) -> str:
    """The matched route's path template; never the raw path, which may hold ids or tokens."""
    route = scope.get("route")
    if route is None and scope.get("endpoint") is not None:
        app = scope.get("app")
        route = next(
            (
                r
                for r in getattr(app, "routes", ())
                if getattr(r, "endpoint", None) is scope["endpoint"]
            ),
            None,
        )
    return getattr(route, "path", None) or "(no route)"


class RequestContext:
    """Gives each request an id (the caller's `X-Request-ID` if well formed) and logs it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")
        # 128 random bits in hex, as a uuid4's hex but without building a UUID.
        request_id = incoming if _SAFE_ID.match(incoming) else os.urandom(16).hex()
        scope.setdefault("state", {})["request_id"] = request_id
        began = time.perf_counter()
        status = 500
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
                message.setdefault("headers", []).append(
                    (REQUEST_ID_HEADER.encode(), request_id.encode())
                )
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as error:
            # Answer here rather than re-raise: the server would log the message (PHI).
            log_unexpected(error, request_id)
            status = 500
            if not started:
                body, media_type = internal_error(scope["path"], request_id)
                await send_with_id(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [
                            (b"content-type", media_type.encode()),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send_with_id({"type": "http.response.body", "body": body})
        finally:
            template = _route_template(scope)
            log.info(
                "%s %s %s %.1fms id=%s",
                scope["method"],
                template,
                status,
                (time.perf_counter() - began) * 1000,
                request_id,
            )


class BodyLimit:
    """Refuses request bodies over `max_bytes` with 413, before any handler reads them.

    A declared Content-Length over the limit is refused at once; a body sent
    without one is read up to the limit and refused when it goes over.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._refuse(scope, send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        body, media_type = payload_too_large(scope["path"], self.max_bytes)
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", media_type.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

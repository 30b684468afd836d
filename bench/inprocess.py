"""The workflow's requests inside one process: what Tandem itself spends on each, without HTTP.

    python bench/inprocess.py [--requests 3000] [--concurrency 32] [--postgres URL] [--only sqlite]
                              [--load submit] [--load read] [--load pages]

`bench/workflow.py` measures through sockets with `wrk` on the same two cores, so
its figures include uvicorn, the kernel and wrk itself. This calls the ASGI app
directly, as uvicorn would, with the same clinic (`workflow.prepare_tandem`):
(a) submit-and-score through the portal API, (b) reading a response, (c) pages of
50 assignments. Each load runs `--requests` requests after 50 to warm up, from
`--concurrency` coroutines at once (so SQLite's writers can share commits, as
under load), and prints microseconds per request and requests per second of the
one core the event loop has, with the CPU this process and PostgreSQL's processes
spent per request meanwhile (from /proc, as bench/workflow.py counts it).
`--load` picks loads (all three by default).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))

from workflow import ROOT, postgres_processes, postgres_spent, prepare_tandem, say

sys.path.insert(0, str(ROOT))

from api.app import create_app
from api.settings import Settings
from tests.databases import fresh_database

Call = tuple[dict[str, Any], bytes]


def http_scope(method: str, path: str, headers: dict[str, str], query: str = "") -> dict:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
        "query_string": query.encode(), "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000), "state": {},
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }  # fmt: skip


async def send_one(app: Any, call: Call) -> tuple[int, bytes]:
    scope, body = call
    given = False
    answer: list[dict] = []

    async def receive() -> dict:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client never disconnects
        raise AssertionError("unreachable")

    async def send(message: dict) -> None:
        answer.append(message)

    await app(scope, receive, send)
    return answer[0]["status"], b"".join(m.get("body", b"") for m in answer[1:])


async def measure(app: Any, calls: list[Call], concurrency: int) -> float:
    """Seconds for `calls` (all must answer 200), `concurrency` at a time."""
    queue = iter(calls)

    async def worker() -> None:
        for call in queue:
            status, body = await send_one(app, call)
            if status != 200:
                raise RuntimeError(f"{call[0]['path']} answered {status}: {body[:300]!r}")

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - began


def loads(work: Path, token: str) -> dict[str, tuple[str, Callable[[int], Call]]]:
    """Each load by its short name (`--load`): its label, and what makes its nth call."""
    responses = (work / "responses.txt").read_text().split()
    stamps = (work / "since.txt").read_text().split()
    pending = [line.split() for line in (work / "submits.txt").read_text().splitlines()]
    body = (work / "balance.json").read_bytes()
    bearer = {"Authorization": f"Bearer {token}"}

    def submit(n: int) -> Call:
        assignment, link = pending[n]
        headers = {"Authorization": f"Bearer {link}", "Content-Type": "application/json",
                   "Content-Length": str(len(body))}  # fmt: skip
        return http_scope("POST", f"/portal/api/assignments/{assignment}/submit", headers), body

    def read(n: int) -> Call:
        return http_scope("GET", f"/v1/responses/{responses[n % len(responses)]}", bearer), b""

    def pages(n: int) -> Call:
        query = f"updated_since={quote(stamps[n % len(stamps)])}&limit=50"
        return http_scope("GET", "/v1/assignments", bearer, query), b""

    return {"submit": ("(a) submit and score", submit), "read": ("(b) read a response", read),
            "pages": ("(c) assignment pages", pages)}  # fmt: skip


LOADS = ("submit", "read", "pages")  # the keys of `loads`


async def run(url: str, work: Path, credentials: dict, arguments: argparse.Namespace) -> None:
    app = create_app(Settings(database_url=url, auto_migrate=False, export_worker=False))
    async with app.router.lifespan_context(app):
        form = b"grant_type=client_credentials"
        basic = base64.b64encode(
            f"{credentials['client_id']}:{credentials['client_secret']}".encode()
        ).decode()
        headers = {"Authorization": f"Basic {basic}", "Content-Length": str(len(form)),
                   "Content-Type": "application/x-www-form-urlencoded"}  # fmt: skip
        _, answer = await send_one(app, (http_scope("POST", "/oauth/token", headers), form))
        token = json.loads(answer)["access_token"]
        kind = "sqlite" if url.startswith("sqlite") else "postgresql"
        for name, (label, make) in loads(work, token).items():
            if arguments.load and name not in arguments.load:
                continue
            warm = [make(n) for n in range(50)]
            await measure(app, warm, arguments.concurrency)
            calls = [make(n) for n in range(50, 50 + arguments.requests)]
            own, postgres = time.process_time(), postgres_processes()
            seconds = await measure(app, calls, arguments.concurrency)
            own, spent = time.process_time() - own, postgres_spent(postgres)
            per, n = seconds / len(calls), len(calls)
            database = f"{spent / n * 1e6:8.0f} us" if kind == "postgresql" else f"{'-':>11s}"
            print(
                f"{label + ', ' + kind:34s} {per * 1e6:8.0f} us {1 / per:9.0f}/s "
                f"{own / n * 1e6:8.0f} us {database}",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--load", action="append", choices=LOADS)
    arguments = parser.parse_args()
    os.environ.pop("TANDEM_DATABASE_URL", None)
    print(
        f"{'measure (in-process, no HTTP)':34s} {'per request':>11s} {'per second':>10s} "
        f"{'CPU here':>11s} {'PostgreSQL':>11s}"
    )
    for kind in ("sqlite", "postgresql"):
        if arguments.only not in (None, kind):
            continue
        with (
            tempfile.TemporaryDirectory() as directory,
            fresh_database(
                Path(directory), arguments.postgres if kind == "postgresql" else None
            ) as url,
        ):
            work = Path(directory)
            # prepare_tandem keeps a fifth of the submissions for wrk's warm-up; none here
            submits = (arguments.requests + 60) * 5 // 4 + 5
            credentials = prepare_tandem(url, work, submits=submits, reads=1000)
            say(f"{kind}: prepared; measuring")
            asyncio.run(run(url, work, credentials, arguments))


if __name__ == "__main__":
    main()

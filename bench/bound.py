"""The ceiling: a portal submission on SQLite with nothing of Tandem but its clinical core.

    python bench/bound.py [--seconds 15] [--connections 32]

`bench/workflow.py` compares Tandem's submissions with a floor that does no
work and a peer that does other work. This measures how fast a service that
does only a submission's work answers it on the same machine, so that a
target can be weighed against what such a service manages. Its app is a bare ASGI function
on raw `sqlite3` that does what a Tandem submission does, and nothing more:

  the portal link looked up by its token's hash, the client's own open
  assignment and any in-progress response looked up, the body parsed,
  validated and scored by `assessments.score_response` (Tandem's own
  clinical core), the response row and its score rows inserted, the clinic's
  change counter and the assignment updated, each writer in a SAVEPOINT of a
  shared transaction committed once the event loop has run what was ready
  (Tandem's group commit), a PASSIVE checkpoint every half second from a
  thread of its own, the same SQL statements (Tandem's own, compiled by
  SQLite's dialect) on the same database (`workflow.prepare_tandem`), served
  by the same uvicorn.

It leaves out everything else Tandem does on the way: FastAPI and its
middleware, problem+json errors, tenancy checks, request ids and logging.
Each of these loads runs for `--seconds` at `--connections`, after a warm-up:

  Tandem itself (`tandem serve`), as bench/workflow.py's (a)
  the bare app, whole: every step above
  the bare app with the scores as one JSON array in a column of the response's
    row (a column Tandem's schema does not have: that load's copy gets it)
  the bare app without the six score rows
  the bare app without validating or scoring (and so without score rows)
  the peer's submission (bench/peer.py), as bench/workflow.py's (e)

then the floors of bench/workflow.py (a bare ASGI app; FastAPI with one
dependency; FastAPI with the route as Tandem's submission has it, a
`DirectRoute`), and prints requests/s, p50, p99 and each as a multiple of the
peer, and each bare variant with each FastAPI floor's own cost added: the most
a FastAPI service doing that work could reach; then where the machine's CPU
went during each load (bench/workflow.py's `report_cpu`).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import hashlib
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy.dialects.sqlite import pysqlite

sys.path.insert(0, str(Path(__file__).resolve().parent))

from workflow import (
    ROOT,
    WARM_UP_SECONDS,
    Result,
    environment_without,
    free_port,
    measure_floor,
    peer_submit_load,
    post_to_peer,
    prepare_tandem,
    report_cpu,
    server,
    submit_load,
    tandem_serve,
    uvicorn,
)

sys.path.insert(0, str(ROOT))

from api.persistence.engine import _no_checkpoints_on_commit, _sqlite_pragmas
from api.persistence.tenancy import Scoped
from api.services import assignments, portal, portal_links, responses
from assessments import InvalidResponse, load_builtin, score_response
from schemas.base import new_id

_SQLITE = pysqlite.dialect(paramstyle="qmark")  # as Tandem's SQLite engine writes SQL


def _sql(statement: Scoped, order: tuple[str, ...], columns: tuple[str, ...] = ()) -> str:
    """Tandem's own statement as SQLite's dialect writes it (an INSERT naming `columns`),
    checked to take its parameters in `order`, the order the bare app gives them in."""
    compiled = statement.statement.compile(dialect=_SQLITE, column_keys=list(columns) or None)
    if tuple(compiled.positiontup) != order:
        raise RuntimeError(f"the statement now takes {compiled.positiontup}, not {order}")
    return compiled.string


_RESPONSE_COLUMNS = (
    "clinic_id", "id", "client_id", "assignment_id", "instrument_id", "status", "authored",
    "questionnaire_response", "flags", "replaces_id", "identifier_system", "identifier_value",
    "created_at", "updated_at",
)  # fmt: skip
_SCORE_COLUMNS = (
    "clinic_id", "id", "response_id", "client_id", "scale", "label", "value", "min", "max",
    "band", "interpretation", "items_used", "unscored_reason", "created_at",
)  # fmt: skip
LINK = _sql(portal_links._LINK, ("token_hash",))
OWN = _sql(
    portal._OWN_LOCKED, ("for_clinic", "for_clinic", "assignment_id", "client_id", "status_1")
)
PROGRESS = _sql(portal._PROGRESS, ("for_clinic", "assignment_id"))
INSERT_RESPONSE = _sql(
    responses._INSERT_RESPONSE,
    (*_RESPONSE_COLUMNS[:-2], "version", *_RESPONSE_COLUMNS[-2:]),  # version: its default
    _RESPONSE_COLUMNS,
)
INSERT_SCORES = _sql(responses._INSERT_SCORES, _SCORE_COLUMNS, _SCORE_COLUMNS)
COUNT = _sql(assignments._NEXT_CHANGES["sqlite"], ("count", "for_clinic"))
COMPLETE = _sql(
    assignments._SET_STATUS,
    ("new_status", "seq", "version_1", "at", "for_clinic", "assignment_id"),
)
# The response row with its scores as one JSON column, which Tandem's schema does not
# have: that load's copy of the database gets it (`BareSubmissions`).
INSERT_RESPONSE_WITH_SCORES = INSERT_RESPONSE.replace(") VALUES (", ", scores) VALUES (", 1)
if INSERT_RESPONSE_WITH_SCORES.count(", scores)") != 1 or not INSERT_RESPONSE.endswith("?)"):
    raise RuntimeError(f"the response's INSERT no longer has the shape expected: {INSERT_RESPONSE}")
INSERT_RESPONSE_WITH_SCORES = INSERT_RESPONSE_WITH_SCORES[:-1] + ", ?)"
VARIANTS = ("whole", "scores-in-row", "no-score-rows", "no-scoring")
JSON_HEADERS = [(b"content-type", b"application/json")]


class BareSubmissions:
    """The bare app's state: one connection, the open group's transaction and its writers."""

    def __init__(self, database: str, variant: str) -> None:
        if variant not in VARIANTS:
            raise ValueError(f"BOUND_VARIANT must be one of {VARIANTS}")
        self.scoring = variant != "no-scoring"
        self.score_rows = variant == "whole"
        self.scores_in_row = variant == "scores-in-row"
        self.instrument = load_builtin("balance-assessment")
        self.database = database
        self.connection = self._connect()
        if self.scores_in_row:  # this load's own copy of the database
            self.connection.execute("ALTER TABLE response ADD COLUMN scores TEXT")
        self.open = False
        self.queued = False
        self.writers: list[asyncio.Future[None]] = []
        self.stopping = threading.Event()
        threading.Thread(target=self._checkpoints, daemon=True).start()

    def _connect(self) -> sqlite3.Connection:
        """A connection set up as `tandem serve` sets up its own (api.persistence.engine)."""
        connection = sqlite3.connect(self.database, isolation_level=None, check_same_thread=False)
        _sqlite_pragmas(connection, None)
        _no_checkpoints_on_commit(connection, None)
        return connection

    def _checkpoints(self) -> None:
        connection = self._connect()
        while not self.stopping.wait(0.5):
            try:
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            except sqlite3.Error:  # as Tandem's checkpointer: the next round retries
                continue

    def _commit_soon(self) -> None:
        if not self.queued:
            self.queued = True
            asyncio.get_running_loop().call_soon(self._commit)

    def _commit(self) -> None:
        self.queued = False
        if self.open:
            self.connection.execute("COMMIT")
            self.open = False
            writers, self.writers = self.writers, []
            for writer in writers:
                writer.set_result(None)

    async def submit(self, assignment: str, token: bytes, body: bytes) -> tuple[int, bytes]:
        db = self.connection
        now = datetime.now(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
        link = db.execute(LINK, (hashlib.sha256(token).hexdigest(),)).fetchone()
        if link is None or link[3] is not None or link[2] <= now or link[4] == "cancelled":
            return 404, b'{"title":"no such link"}'
        clinic, client = link[0], link[1]
        assignment_id = uuid.UUID(assignment).hex
        own = db.execute(OWN, (clinic, clinic, assignment_id, client, "cancelled")).fetchone()
        if own is None:
            return 404, b'{"title":"no such assignment"}'
        if own[1] == "completed":
            return 409, b'{"title":"already completed"}'
        document = json.loads(body)
        if not isinstance(document, dict) or document.get("status") != "completed":
            return 422, b'{"title":"status must be completed"}'
        scores: tuple[Any, ...] = ()
        flags: list[dict[str, Any]] = []
        if self.scoring:
            try:
                scored = score_response(self.instrument, document)
            except InvalidResponse:
                return 422, b'{"title":"invalid response"}'
            scores = scored.scores if self.score_rows or self.scores_in_row else ()
            flags = [dataclasses.asdict(flag) for flag in scored.flags]
        if not self.open:
            db.execute("BEGIN IMMEDIATE")
            self.open = True
        db.execute("SAVEPOINT writer")
        try:
            response_id = self._write(db, clinic, client, assignment_id, own[4], now, document,
                                      scores, flags, self.scores_in_row)  # fmt: skip
        except BaseException:
            db.execute("ROLLBACK TO writer")  # as a Tandem writer's failure: the others' work stays
            db.execute("RELEASE writer")
            self._commit_soon()
            raise
        db.execute("RELEASE writer")
        committed = asyncio.get_running_loop().create_future()
        self.writers.append(committed)
        self._commit_soon()
        await committed
        answer = {"status": "completed", "response_id": str(uuid.UUID(response_id))}
        return 200, orjson.dumps(answer)

    @staticmethod
    def _write(
        db: sqlite3.Connection,
        clinic: str,
        client: str,
        assignment_id: str,
        instrument_id: str,
        now: str,
        document: dict[str, Any],
        scores: tuple[Any, ...],
        flags: list[dict[str, Any]],
        scores_in_row: bool,
    ) -> str:
        """The submission's statements, inside its writer's savepoint; the new response's id.
        With `scores_in_row`, the scores go in the response's row, as one JSON array."""
        db.execute(PROGRESS, (clinic, assignment_id)).fetchone()
        response_id = new_id().hex
        document = dict(document, id=str(uuid.UUID(response_id)))
        document["subject"] = {"reference": f"Patient/{uuid.UUID(client)}"}
        document["authored"] = now
        row = (
            clinic, response_id, client, assignment_id, instrument_id, "completed", now,
            orjson.dumps(document).decode(), orjson.dumps(flags).decode(), None, None, None, 1,
            now, now,
        )  # fmt: skip
        if scores_in_row:
            in_row = orjson.dumps([{
                "scale": s.scale, "label": s.label, "value": s.value, "min": s.min, "max": s.max,
                "band": s.band, "interpretation": s.interpretation,
                "items_used": list(s.items_used), "unscored_reason": s.unscored_reason,
            } for s in scores]).decode()  # fmt: skip
            db.execute(INSERT_RESPONSE_WITH_SCORES, (*row, in_row))
        else:
            db.execute(INSERT_RESPONSE, row)
        if scores and not scores_in_row:
            db.executemany(INSERT_SCORES, [(
                clinic, new_id().hex, response_id, client, score.scale, score.label, score.value,
                score.min, score.max, score.band, score.interpretation,
                orjson.dumps(list(score.items_used)).decode(), score.unscored_reason, now,
            ) for score in scores])  # fmt: skip
        (sequence,) = db.execute(COUNT, (1, clinic)).fetchone()
        db.execute(COMPLETE, ("completed", sequence, 1, now, clinic, assignment_id))
        return response_id


_state: dict[str, BareSubmissions] = {}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The bare app: POST /portal/api/assignments/{id}/submit; any other request is a 200."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                variant = os.environ.get("BOUND_VARIANT", "whole")
                _state["app"] = BareSubmissions(os.environ["BOUND_DATABASE"], variant)
                gc.collect()  # as Tandem's app does (api/app.py)
                gc.freeze()
                gc.set_threshold(10_000, 10, 10)
            elif message["type"] == "lifespan.shutdown":
                _state["app"].stopping.set()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    status, answer = 200, b'{"status":"ok"}'
    parts = scope["path"].split("/")
    if scope["method"] == "POST" and len(parts) == 6 and parts[-1] == "submit":
        token = dict(scope["headers"]).get(b"authorization", b"").removeprefix(b"Bearer ")
        status, answer = await _state["app"].submit(parts[4], token, body)
    headers = [*JSON_HEADERS, (b"content-length", str(len(answer)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": answer})


def _fresh_copy(prepared: Path, into: Path) -> Path:
    """A copy of the prepared work directory (database and wrk's lists), none of it submitted."""
    shutil.copytree(prepared, into)
    return into


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--most-per-second", type=int, default=8000,
        help="assignments prepared per second of load; a load that runs out answers 409s",
    )  # fmt: skip
    arguments = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench/bound.py needs wrk: apt-get install wrk")
    seconds, connections = arguments.seconds, arguments.connections
    # more than any of these makes: at 2,500 a second the lighter loads ran out on a fast day
    expected = int((seconds + WARM_UP_SECONDS) * arguments.most_per_second)
    env = environment_without("TANDEM_", "BOUND_")
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as directory:
        prepared = Path(directory) / "prepared"
        prepared.mkdir()
        prepare_tandem(f"sqlite:///{prepared / 'tandem.db'}", prepared, expected, reads=10)

        def submissions(label: str, command: Callable[[int], list[str]], extra: dict[str, str],
                        run: str) -> None:  # fmt: skip
            work = _fresh_copy(prepared, Path(directory) / run)
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            database = {"TANDEM_DATABASE_URL": f"sqlite:///{work / 'tandem.db'}",
                        "BOUND_DATABASE": str(work / "tandem.db")}  # fmt: skip
            with server(command(port), env | database | extra, work, f"{base}/health") as serving:
                results.append(submit_load(label, base, work, seconds, connections, serving))

        python_path = {"PYTHONPATH": f"{ROOT / 'bench'}{os.pathsep}{ROOT}"}
        submissions(
            "Tandem (tandem serve)",
            tandem_serve,
            python_path | {"TANDEM_AUTO_MIGRATE": "false"},
            "tandem",
        )
        for variant in VARIANTS:
            submissions(
                f"bare app, {variant}",
                lambda port: uvicorn("bound:app", port),
                python_path | {"BOUND_VARIANT": variant},
                variant,
            )

        peer = Path(directory) / "peer"
        peer.mkdir()
        shutil.copy(prepared / "balance.json", peer)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        peer_env = env | {"PEER_DATABASE_URL": f"sqlite:///{peer / 'peer.db'}",
                          "PYTHONPATH": str(ROOT / "bench")}  # fmt: skip
        with server(uvicorn("peer:app", port), peer_env, peer, f"{base}/docs") as serving:
            post_to_peer(base, peer / "balance.json")  # its first request makes its table
            results.append(
                peer_submit_load("peer submit (bench/peer.py)", base, peer / "balance.json",
                                 seconds, connections, serving)
            )  # fmt: skip

    floors = measure_floor(arguments)
    report(results, floors)
    report_cpu([*results, *floors])


def report(results: list[Result], floors: list[Result]) -> None:
    """Each load as a multiple of the peer; the bare app's cost taken apart; and each bare
    variant with each FastAPI floor's own cost added, the most a FastAPI service doing it
    could reach. Nothing is derived from a load that answered anything but 200s."""
    peer_rate = results[-1].requests_per_second
    print(f"\n{'submissions, sqlite':<32} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'failed':>7} {'x peer':>7}")  # fmt: skip
    for r in [*results, *floors]:
        print(f"{r.label:<32} {r.requests_per_second:>8.0f} {r.p50_ms:>8.1f} {r.p99_ms:>8.1f} "
              f"{r.failures:>7} {r.requests_per_second / peer_rate:>7.1f}")  # fmt: skip
    failed = [r.label for r in [*results, *floors] if r.failures]
    if failed:
        # a bare load that ran out of prepared assignments answers quick 409s
        print(f"\nNOT VALID, answers other than 200: {failed}; nothing derived from them")
    valid = {r.label: 1 / r.requests_per_second for r in [*results, *floors] if not r.failures}
    cost = {v: valid.get(f"bare app, {v}") for v in VARIANTS}
    if None not in cost.values():
        print(f"\nthe bare app's submission, in ms: validating and scoring "
              f"{(cost['no-score-rows'] - cost['no-scoring']) * 1e3:.2f}, the six score rows "
              f"{(cost['whole'] - cost['no-score-rows']) * 1e3:.2f} (as one JSON column "
              f"{(cost['scores-in-row'] - cost['no-score-rows']) * 1e3:.2f}), "
              f"the rest {cost['no-scoring'] * 1e3:.2f}")  # fmt: skip
    bare_floor = valid.get(floors[0].label)
    if bare_floor is None or results[-1].failures:
        return
    print(f"the budget at 10x the peer: {1e3 / (10 * peer_rate):.3f} ms a submission")
    for framework_floor in floors[1:]:
        framework = valid.get(framework_floor.label)
        if framework is None:
            continue
        framework -= bare_floor
        print(f"{framework_floor.label.removeprefix('(d) ')}: its own cost {framework * 1e3:.3f} "
              f"ms a request (its floor less the bare floor); with it added")  # fmt: skip
        for variant, seconds in cost.items():
            if seconds is not None:
                most = 1 / (seconds + framework)
                print(f"  bare app, {variant}: {(seconds + framework) * 1e3:.3f} ms, "
                      f"{most:.0f}/s, {most / peer_rate:.1f}x the peer")  # fmt: skip


if __name__ == "__main__":
    main()

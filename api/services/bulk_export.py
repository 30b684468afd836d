"""Bulk Data export (`$export`) and one client's record (`$everything`).

An export is a job row (`schemas.export.ExportJob`) that the kick-off queues
and a worker runs outside the request, so nothing but the database ties a
job to a process:

- Kick-off (`kick_off`) checks the parameters and the token's scopes
  (`system/<Type>.rs` for every type exported, and `Group.r` for a couple's
  export) and queues the job.
- A worker (`ExportWorker`: a thread of the server, or `tandem worker`)
  claims the oldest queued job (`FOR UPDATE SKIP LOCKED` on PostgreSQL; on
  SQLite the claim's write transaction is the only one) and holds it with a
  lease it renews after every batch. A job whose worker died is claimed
  again once the lease has run out, and starts over, up to `MAX_ATTEMPTS`
  times. A worker that is stopped hands its job back at once.
- The worker reads each type through the same statement and mapping as a
  FHIR search (`fhir_search.TARGETS`, `fhir.resources_of`), in batches of
  `BATCH_SIZE` rows paged by (created, id), each batch in a short session of
  its own, and writes each resource as a line of ndjson: memory stays flat
  however large the clinic is. Rows changed after the job started
  (`transactionTime`) are left to the next export with `_since`.
- Status, cancel and downloads read the job row; files live under
  `TANDEM_EXPORT_DIR/<job id>/<attempt>/` until `TANDEM_EXPORT_HOURS` after
  the job finished, when the worker removes them.

Logs name jobs, types and counts; never a resource's content.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import ColumnElement, Engine, and_, or_, select, tuple_, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, defer
from sqlmodel import col

from api.auth.dependencies import demand
from api.auth.tokens import Principal
from api.errors import BadRequest, FieldProblem, NotFound, TandemError
from api.persistence import ClinicSession, across_clinics, scope_to_clinic
from api.persistence.session import write_engine_of
from api.services.fhir import resources_of
from api.services.fhir_search import TARGETS
from api.settings import Settings
from integrations.fhir.bundle import searchset
from integrations.fhir.ndjson import (
    EXPORT_TYPES,
    ExportError,
    error_line,
    manifest,
    ndjson_line,
    parse_export,
)
from integrations.fhir.search import Search
from schemas import (
    Assignment,
    Client,
    Couple,
    CoupleMember,
    ExportJob,
    ExportLevel,
    ExportStatus,
    Instrument,
    Plan,
    Response,
    Score,
)
from schemas.base import utcnow

log = logging.getLogger("tandem.export")

BATCH_SIZE = 1000
LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 3
PURGE_EVERY_SECONDS = 60.0
RETRY_AFTER_SECONDS = 2


class ExportFailed(TandemError):
    """The job ran and failed: the status request's answer (an OperationOutcome, 500)."""

    status, title, slug = 500, "Export failed", "export-failed"


# Whose rows: the compartments -------------------------------------------------------


@dataclass(frozen=True)
class Reach:
    """Whose records an export covers: the whole clinic, every client (with the
    Questionnaires their responses and tasks name), one couple, or one client."""

    whole_clinic: bool = False
    group_id: uuid.UUID | None = None
    patient_id: uuid.UUID | None = None

    @classmethod
    def of(cls, job: ExportJob) -> Reach:
        return cls(whole_clinic=job.level == ExportLevel.SYSTEM, group_id=job.group_id)


def _clients(reach: Reach) -> Any:
    """The client ids the reach is about (a subquery or a list); None for every client."""
    if reach.patient_id is not None:
        return [reach.patient_id]
    if reach.group_id is not None:
        return select(CoupleMember.client_id).where(CoupleMember.couple_id == reach.group_id)
    return None


def compartment(kind: str, reach: Reach) -> list[ColumnElement[bool]]:
    """The conditions that keep `kind`'s rows to those the reach covers.

    A couple's export has that couple only; a client's record has every
    couple the client is in. Questionnaires are not about anyone: below the
    whole clinic, those the covered responses and tasks answer are included.
    """
    if reach.whole_clinic:
        return []
    clients = _clients(reach)

    def about(column: Any) -> list[ColumnElement[bool]]:
        return [] if clients is None else [column.in_(clients)]

    if kind == "Patient":
        return about(Client.id)
    if kind in ("Group", "CarePlan"):  # a couple, and a couple's plans
        column = Couple.id if kind == "Group" else Plan.couple_id
        if reach.group_id is not None:
            return [column == reach.group_id]
        memberships = select(CoupleMember.couple_id).where(*about(CoupleMember.client_id))
        return [] if clients is None else [column.in_(memberships)]
    if kind == "Questionnaire":
        answered = select(Response.instrument_id).where(*about(Response.client_id))
        assigned = select(Assignment.instrument_id).where(*about(Assignment.client_id))
        return [or_(Instrument.id.in_(answered), Instrument.id.in_(assigned))]
    column = {
        "QuestionnaireResponse": Response.client_id,
        "Observation": Score.client_id,
        "Task": Assignment.client_id,
    }[kind]
    return about(column)


Position = tuple[datetime, uuid.UUID]
_NAMING_THEIR_INSTRUMENT = frozenset({"QuestionnaireResponse", "Observation", "Task"})


def rows_of(
    session: Session,
    kind: str,
    reach: Reach,
    since: datetime | None = None,
    until: datetime | None = None,
    after: Position | None = None,
    limit: int | None = None,
) -> list[Any]:
    """Rows of `kind`'s search statement the reach covers, changed after `since` and not
    after `until`, in (created, id) order from just after `after`; each row ends with its
    creation time (`sort_key`), as `fhir.resources_of` takes them."""
    target = TARGETS[kind]
    statement = target.statement().where(*compartment(kind, reach))
    if since is not None:
        statement = statement.where(target.last_updated > since)
    if until is not None:
        statement = statement.where(target.last_updated <= until)
    if after is not None:  # a row value: the database reads on along its index from there
        statement = statement.where(tuple_(target.created, target.id) > after)
    if kind in _NAMING_THEIR_INSTRUMENT:
        # only its url and version are written; its documents would be decoded once a row
        statement = statement.options(defer(Instrument.questionnaire), defer(Instrument.scoring))
    statement = statement.add_columns(target.created.label("sort_key"))
    statement = statement.order_by(target.created, target.id)
    if limit is not None:
        statement = statement.limit(limit)
    return list(session.execute(statement).all())


# Kick-off, status, cancel, files (in a request) ---------------------------------------


def kick_off(
    session: Session,
    principal: Principal,
    level: ExportLevel,
    pairs: Iterable[tuple[str, str]],
    request_url: str,
    lenient: bool = False,
    group_id: str | None = None,
) -> ExportJob:
    """Queue an export of the caller's clinic; BadRequest naming a bad parameter, 403 for a
    missing scope, NotFound for a couple that is not the clinic's."""
    try:
        asked = parse_export(pairs, lenient)
    except ExportError as error:
        raise _bad(error) from None
    _demand_types(principal, asked.types)
    if level == ExportLevel.GROUP:
        demand(principal, "Group.r")
    job = ExportJob(
        level=level,
        types=list(asked.types),
        since=asked.since,
        request_url=request_url,
        requested_by=principal.client_id,
    )
    session.add(job)
    # The write comes first: on SQLite a GET's transaction then holds the write lock
    # before it reads anything (a read first could not become a write once another
    # request had committed in between).
    session.flush()
    if level == ExportLevel.GROUP:
        couple_id = _uuid(group_id or "")
        if couple_id is None or session.get(Couple, couple_id) is None:
            raise NotFound(f"no Group/{group_id}")
        job.group_id = couple_id
        session.flush()
    log.info("export job %s queued: %s level, %d type(s)", job.id, level.value, len(job.types))
    return job


@dataclass(frozen=True)
class ExportState:
    """What a status request answers: `progress` while the job waits or runs, else the
    completion `manifest` and when its files go."""

    job: ExportJob
    progress: str | None = None
    manifest: dict[str, Any] | None = None
    expires: datetime | None = None


def status(session: Session, principal: Principal, job_id: str, base: str) -> ExportState:
    """The job's state; NotFound for one of another clinic, cancelled or expired, and
    ExportFailed (500) for one that failed."""
    job = _job(session, principal, job_id)
    if job.status == ExportStatus.FAILED:
        raise ExportFailed(f"export job {job.id} failed: {job.failure}")
    if job.status == ExportStatus.QUEUED:
        return ExportState(job, progress=f"queued, 0 of {len(job.types)} types")
    if job.status == ExportStatus.RUNNING:
        progress = f"{job.types_done} of {len(job.types)} types, {job.resources_done} resources"
        return ExportState(job, progress=progress)
    assert job.transaction_time is not None
    document = manifest(
        job.transaction_time, job.request_url, files_url(base, job.id), job.output, job.errors
    )
    return ExportState(job, manifest=document, expires=job.expires_at)


def cancel(session: Session, principal: Principal, job_id: str, export_dir: str) -> None:
    """Cancel the job and remove its files; a worker running it stops after its batch."""
    job = _job(session, principal, job_id)
    job.status = ExportStatus.CANCELLED
    job.lease_until = None
    job.finished_at = utcnow()
    session.flush()
    shutil.rmtree(job_directory(export_dir, job.id), ignore_errors=True)
    log.info("export job %s cancelled", job.id)


def export_file(
    session: Session, principal: Principal, job_id: str, name: str, export_dir: str
) -> Path:
    """The path of one of a finished job's files (only names its manifest lists)."""
    job = _job(session, principal, job_id)
    listed = {entry["name"] for entry in (*job.output, *job.errors)}
    if job.status != ExportStatus.DONE or name not in listed:
        raise NotFound(f"export job {job.id} has no file {name}")
    path = attempt_directory(export_dir, job.id, job.attempts) / name
    if not path.is_file():
        raise NotFound(f"the file {name} of export job {job.id} is no longer kept")
    return path


def files_url(base: str, job_id: uuid.UUID) -> str:
    return f"{base}/$export-files/{job_id}"


def job_directory(export_dir: str, job_id: uuid.UUID) -> Path:
    return Path(export_dir) / str(job_id)


def attempt_directory(export_dir: str, job_id: uuid.UUID, attempt: int) -> Path:
    """Each attempt writes a directory of its own: a worker that lost its lease and has not
    noticed yet never writes into the files of the one that took the job over."""
    return job_directory(export_dir, job_id) / str(attempt)


def _job(session: Session, principal: Principal, job_id: str) -> ExportJob:
    wanted = _uuid(job_id)
    job = None if wanted is None else session.get(ExportJob, wanted)
    gone = (ExportStatus.CANCELLED, ExportStatus.EXPIRED)
    if job is None or job.status in gone or _expired(job):
        raise NotFound(f"no export job {job_id} (unknown, cancelled, or its files expired)")
    _demand_types(principal, job.types)
    return job


def _expired(job: ExportJob) -> bool:
    return job.expires_at is not None and job.expires_at <= utcnow()


def _demand_types(principal: Principal, types: Sequence[str]) -> None:
    for kind in types:
        demand(principal, f"{kind}.r")
        demand(principal, f"{kind}.s")


def _bad(error: ExportError) -> BadRequest:
    return BadRequest(str(error), [FieldProblem.of_parameter(error.parameter, str(error))])


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


# $everything -------------------------------------------------------------------------


def everything(
    session: Session,
    principal: Principal,
    patient_id: str,
    pairs: Iterable[tuple[str, str]],
    base: str,
) -> dict[str, Any]:
    """One client's record as a searchset Bundle: the Patient, the couples they are in,
    the Questionnaires they answered or were given, their responses, scores and tasks,
    and their couples' plans (latest versions). `_type` narrows it, `_since` keeps what
    changed after that instant; other parameters are ignored and reported. The token
    needs `r` on every type included."""
    pairs = list(pairs)
    given = [(name, value) for name, value in pairs if name in ("_type", "_since")]
    ignored = [name for name, _ in pairs if name not in ("_type", "_since")]
    try:
        asked = parse_export(given, allowed=EXPORT_TYPES)
    except ExportError as error:
        raise _bad(error) from None
    for kind in asked.types:
        demand(principal, f"{kind}.r")
    client_id = _uuid(patient_id)
    if client_id is None or session.get(Client, client_id) is None:
        raise NotFound(f"no Patient/{patient_id}")
    reach = Reach(patient_id=client_id)
    found: list[dict[str, Any]] = []
    for kind in asked.types:
        rows = rows_of(session, kind, reach, since=asked.since)
        found += resources_of(session, Search(kind), rows)[0]
    path = f"Patient/{client_id}/$everything"
    return searchset(base, path, given, found, [], len(found), None, ignored)


# The worker -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    """A job a worker holds: everything it needs to run it without reading the row again."""

    job_id: uuid.UUID
    clinic_id: uuid.UUID
    attempt: int
    types: tuple[str, ...]
    reach: Reach
    since: datetime | None
    transaction_time: datetime


class _Lost(Exception):
    """The job is no longer this worker's: cancelled, or taken over after the lease ran out."""


class _Stopping(Exception):
    """The worker was asked to stop: the job goes back to the queue."""


class ExportWorker:
    """Claims queued exports and runs them, one at a time.

    `start()` runs `run()` in a daemon thread (the server's lifespan does);
    `tandem worker` calls `run()` itself. `step()` claims and runs one job,
    for tests and for `tandem worker --once`.
    """

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        name: str | None = None,
        poll_seconds: float = 1.0,
        lease: timedelta = LEASE,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._engine = engine
        self._write_engine = write_engine_of(engine)
        self._settings = settings
        self._poll = poll_seconds
        self._lease = lease
        self._batch_size = batch_size
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # running ------------------------------------------------------------------------

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="tandem-export", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the loop to stop and wait for it; a job under way goes back to the queue."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wake(self) -> None:
        """Look for jobs now rather than at the next poll (a kick-off was just committed)."""
        self._wake.set()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def run(self) -> None:
        """Claim and run jobs until `stop()`, removing expired files now and then; a round
        that fails is logged and the loop goes on."""
        log.info("export worker %s started", self.name)
        next_purge = 0.0
        while not self._stop.is_set():
            ran = False
            try:
                if time.monotonic() >= next_purge:
                    self.purge()
                    next_purge = time.monotonic() + PURGE_EVERY_SECONDS
                ran = self.step()
            except Exception as error:  # the loop must outlive any one failure
                _log_unexpected("the export worker's round", error)
            if not ran:
                self._wake.wait(self._poll)
                self._wake.clear()
        log.info("export worker %s stopped", self.name)

    def step(self) -> bool:
        """Claim one job and run it to its end; False when none was waiting."""
        claimed = self.claim()
        if claimed is None:
            return False
        self.run_job(claimed)
        return True

    # the job row --------------------------------------------------------------------

    def claim(self) -> Claimed | None:
        """The oldest job waiting (or whose worker's lease ran out), now this worker's."""
        while True:
            now = utcnow()
            waiting = or_(
                ExportJob.status == ExportStatus.QUEUED,
                and_(ExportJob.status == ExportStatus.RUNNING, ExportJob.lease_until < now),
            )
            # a read first: on SQLite the claim's transaction takes the write lock
            with ClinicSession(self._engine) as session, across_clinics(session):
                if session.execute(select(ExportJob.id).where(waiting).limit(1)).first() is None:
                    return None
            with (
                ClinicSession(self._write_engine, expire_on_commit=False) as session,
                across_clinics(session),
            ):
                job = session.execute(
                    select(ExportJob)
                    .where(waiting)
                    .order_by(ExportJob.created_at, ExportJob.id)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                ).scalar_one_or_none()
                if job is None:
                    return None
                if job.status == ExportStatus.RUNNING and job.attempts >= MAX_ATTEMPTS:
                    self._give_up(job, now)
                    session.commit()
                    continue
                if job.status == ExportStatus.RUNNING:
                    log.warning(
                        "export job %s: its worker %s stopped renewing its lease; starting over",
                        job.id,
                        job.worker,
                    )
                job.status = ExportStatus.RUNNING
                job.worker = self.name
                job.attempts += 1
                job.lease_until = now + self._lease
                job.started_at = job.transaction_time = now
                job.types_done = job.resources_done = 0
                job.output, job.errors = [], []
                session.commit()
                return Claimed(
                    job_id=job.id,
                    clinic_id=job.clinic_id,  # type: ignore[arg-type]
                    attempt=job.attempts,
                    types=tuple(job.types),
                    reach=Reach.of(job),
                    since=job.since,
                    transaction_time=now,
                )

    def _give_up(self, job: ExportJob, now: datetime) -> None:
        job.status = ExportStatus.FAILED
        job.failure = f"the export was interrupted {job.attempts} times; start a new one"
        job.lease_until = None
        job.finished_at = now
        job.expires_at = now + timedelta(hours=self._settings.export_hours)
        log.error("export job %s failed: interrupted %d times", job.id, job.attempts)

    def _update(self, claimed: Claimed, **values: Any) -> bool:
        """Change the job's row if it is still this attempt's; False if it is not."""
        with ClinicSession(self._write_engine) as session:
            scope_to_clinic(session, claimed.clinic_id)
            result = session.execute(
                update(ExportJob)
                .where(
                    ExportJob.id == claimed.job_id,
                    ExportJob.status == ExportStatus.RUNNING,
                    ExportJob.worker == self.name,
                    ExportJob.attempts == claimed.attempt,
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            session.commit()
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def _heartbeat(self, claimed: Claimed, types_done: int, resources_done: int) -> None:
        """Renew the lease and show progress; stop here if asked to or if the job is gone."""
        if self._stop.is_set():
            raise _Stopping
        renewed = self._update(
            claimed,
            lease_until=utcnow() + self._lease,
            types_done=types_done,
            resources_done=resources_done,
        )
        if not renewed:
            raise _Lost

    # the work -----------------------------------------------------------------------

    def run_job(self, claimed: Claimed) -> None:
        """Write the job's files and record them; whatever happens, the job does not stay
        running under this worker's name."""
        directory = attempt_directory(self._settings.export_dir, claimed.job_id, claimed.attempt)
        began = time.perf_counter()
        log.info(
            "export job %s: attempt %d by %s, %d type(s)",
            claimed.job_id,
            claimed.attempt,
            self.name,
            len(claimed.types),
        )
        try:
            shutil.rmtree(directory, ignore_errors=True)
            directory.mkdir(parents=True)
            files = _Files(directory, self._settings.export_file_resources)
            try:
                total = self._write(claimed, files)
            finally:
                files.close()
            finished = utcnow()
            done = self._update(
                claimed,
                status=ExportStatus.DONE,
                types_done=len(claimed.types),
                resources_done=total,
                output=files.output,
                errors=files.errors,
                lease_until=None,
                finished_at=finished,
                expires_at=finished + timedelta(hours=self._settings.export_hours),
            )
            if not done:
                raise _Lost
        except _Stopping:
            self._update(
                claimed,
                status=ExportStatus.QUEUED,
                worker=None,
                lease_until=None,
                attempts=claimed.attempt - 1,
            )
            _drop(directory)
            log.info("export job %s: handed back to the queue (worker stopping)", claimed.job_id)
            return
        except _Lost:
            _drop(directory)
            log.info("export job %s: cancelled or taken over; attempt dropped", claimed.job_id)
            return
        except Exception as error:
            _drop(directory)
            _log_unexpected(f"export job {claimed.job_id}", error)
            failed = utcnow()
            self._update(
                claimed,
                status=ExportStatus.FAILED,
                failure=f"an internal error ({type(error).__name__}); quote the job id "
                "when reporting it",
                lease_until=None,
                finished_at=failed,
                expires_at=failed + timedelta(hours=self._settings.export_hours),
            )
            return
        log.info(
            "export job %s done: %d resources in %d file(s), %d left out, %.1f s",
            claimed.job_id,
            total,
            len(files.output),
            sum(entry["count"] for entry in files.errors),
            time.perf_counter() - began,
        )

    def _write(self, claimed: Claimed, files: _Files) -> int:
        total = 0
        for index, kind in enumerate(claimed.types):
            after: Position | None = None
            while True:
                with self._clinic_session(claimed.clinic_id) as session:
                    rows = rows_of(
                        session,
                        kind,
                        claimed.reach,
                        since=claimed.since,
                        until=claimed.transaction_time,
                        after=after,
                        limit=self._batch_size,
                    )
                    lines, failures = _lines(session, kind, rows, claimed.job_id)
                    if rows:
                        after = (rows[-1].sort_key, rows[-1][0].id)
                for line in lines:
                    files.write(kind, line)
                for line in failures:
                    files.write(_OUTCOME, line)
                total += len(rows)
                if len(rows) < self._batch_size:
                    break
                self._heartbeat(claimed, index, total)
            self._heartbeat(claimed, index + 1, total)
        return total

    @contextmanager
    def _clinic_session(self, clinic_id: uuid.UUID) -> Iterator[Session]:
        """A short read session of the job's clinic: one per batch, so no batch's rows
        outlive it."""
        with ClinicSession(self._engine) as session:
            scope_to_clinic(session, clinic_id)
            yield session

    def purge(self) -> int:
        """Remove the files of finished jobs whose time is up; the number of jobs."""
        now = utcnow()
        over = and_(
            col(ExportJob.status).in_([ExportStatus.DONE, ExportStatus.FAILED]),
            ExportJob.expires_at <= now,
        )
        with ClinicSession(self._engine) as session, across_clinics(session):
            if session.execute(select(ExportJob.id).where(over).limit(1)).first() is None:
                return 0
        with (
            ClinicSession(self._write_engine, expire_on_commit=False) as session,
            across_clinics(session),
        ):
            jobs = list(
                session.execute(
                    select(ExportJob).where(over).limit(100).with_for_update(skip_locked=True)
                ).scalars()
            )
            for job in jobs:
                job.status = ExportStatus.EXPIRED
                shutil.rmtree(job_directory(self._settings.export_dir, job.id), ignore_errors=True)
            session.commit()
        for job in jobs:
            log.info("export job %s expired; its files are removed", job.id)
        return len(jobs)


def _lines(
    session: Session, kind: str, rows: Sequence[Any], job_id: uuid.UUID
) -> tuple[list[str], list[str]]:
    """The batch's resources as ndjson lines, and an OperationOutcome line for each row
    that could not be mapped (the rest of the batch is still written)."""
    try:
        return [ndjson_line(r) for r in resources_of(session, Search(kind), rows)[0]], []
    except SQLAlchemyError:
        raise
    except Exception:
        pass  # find the row(s) at fault, one at a time
    lines, failures = [], []
    for row in rows:
        try:
            lines += [ndjson_line(r) for r in resources_of(session, Search(kind), [row])[0]]
        except SQLAlchemyError:
            raise
        except Exception as error:
            name = type(error).__name__
            log.error("export job %s: %s/%s left out (%s)", job_id, kind, row[0].id, name)
            failures.append(
                error_line(
                    f"{kind}/{row[0].id} could not be exported ({name}); quote export "
                    f"job {job_id} when reporting it"
                )
            )
    return lines, failures


class _Files:
    """The ndjson files of one attempt: one per type, a new one every `limit` resources
    (`Patient-1.ndjson`, `Patient-2.ndjson`, ...); lines reporting rows left out go to
    `errors-N.ndjson`. `output` and `errors` list `{type, name, count}` per file."""

    def __init__(self, directory: Path, limit: int) -> None:
        self._directory = directory
        self._limit = limit
        self._open: dict[str, tuple[TextIO, dict[str, Any]]] = {}
        self.output: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []

    def write(self, kind: str, line: str) -> None:
        current = self._open.get(kind)
        if current is None or current[1]["count"] >= self._limit:
            current = self._new(kind)
        current[0].write(line)
        current[1]["count"] += 1

    def _new(self, kind: str) -> tuple[TextIO, dict[str, Any]]:
        """A new file for `kind`, closing its last one (and, for a resource type, the
        previous type's: types are written one after another)."""
        for other in list(self._open):
            if other == kind or (kind != _OUTCOME and other != _OUTCOME):
                self._open.pop(other)[0].close()
        listing = self.errors if kind == _OUTCOME else self.output
        stem = "errors" if kind == _OUTCOME else kind
        number = sum(1 for entry in listing if entry["type"] == kind) + 1
        entry: dict[str, Any] = {"type": kind, "name": f"{stem}-{number}.ndjson", "count": 0}
        path = self._directory / entry["name"]
        handle = path.open("w", encoding="utf-8", newline="")  # closed by _new or close()
        listing.append(entry)
        self._open[kind] = (handle, entry)
        return handle, entry

    def close(self) -> None:
        for handle, _ in self._open.values():
            handle.close()
        self._open.clear()


_OUTCOME = "OperationOutcome"


def _drop(directory: Path) -> None:
    """Remove an attempt's files, and its job's directory if no other attempt has any."""
    shutil.rmtree(directory, ignore_errors=True)
    with suppress(OSError):  # another attempt's files are there, or it is gone already
        directory.parent.rmdir()


def _log_unexpected(where: str, error: BaseException) -> None:
    """Log an exception by type and stack only: its message may hold PHI."""
    frames = "".join(traceback.format_tb(error.__traceback__))
    log.error("unexpected %s in %s\n%s", type(error).__name__, where, frames)

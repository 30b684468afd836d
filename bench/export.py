"""How fast a Bulk Data export runs, and whether its memory stays flat as the clinic grows.

    python bench/export.py [--sizes 10000,100000] [--postgres URL] [--batch 1000]

For each size it makes a fresh database (a SQLite file; with --postgres a new
schema of that PostgreSQL database instead, dropped afterwards) holding a
clinic with 1,000 clients and that many completed balance-assessment
QuestionnaireResponses, inserted in bulk through a clinic session (answers,
gaps and dates vary per response; on PostgreSQL the table is then analysed,
as autovacuum would have done). It queues one `$export` of
QuestionnaireResponse and runs it with the worker's own code
(`ExportWorker.step`) in a fresh process, and prints rows/s, the process's
resident memory when the export began and at its highest during it, its
ru_maxrss, and, from a second run of the same job under tracemalloc, the peak
of Python's own allocations. It checks the file too: one line per response,
a sample of them valid R4B.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from api.persistence import ClinicSession, across_clinics, make_engine  # noqa: E402
from api.services.bulk_export import ExportWorker  # noqa: E402
from api.services.clinics import create_clinic  # noqa: E402
from api.services.instruments import resolve_instrument  # noqa: E402
from api.services.maintenance import prepare_database  # noqa: E402
from api.settings import Settings  # noqa: E402
from schemas import (  # noqa: E402
    Client,
    ClientIdentifier,
    ExportJob,
    ExportLevel,
    ExportStatus,
    Response,
)
from tests.assessments.builders import STATEMENTS, balance_response  # noqa: E402
from tests.databases import fresh_database  # noqa: E402

CLIENTS = 1000
CHUNK = 5000


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def seed(url: str, responses: int) -> tuple[uuid.UUID, uuid.UUID]:
    """A clinic with CLIENTS clients and `responses` completed balance assessments, and a
    queued export of its QuestionnaireResponses: (clinic id, job id)."""
    engine = make_engine(url)
    prepare_database(engine)
    generator = random.Random(responses)
    began = datetime(2025, 1, 1, tzinfo=UTC)
    with ClinicSession(engine, expire_on_commit=False) as session:
        clinic = create_clinic(session, "Bench Clinic")
        balance = resolve_instrument(session, "balance-assessment")
        clients = []
        for number in range(CLIENTS):
            client = Client(name=None, created_at=began, updated_at=began)
            session.add(client)
            session.add(
                ClientIdentifier(
                    client_id=client.id, system="https://pm.example", value=f"E-{number}"
                )
            )
            clients.append(client.id)
        session.commit()
        made = 0
        while made < responses:
            rows: list[dict[str, Any]] = []
            for index in range(made, min(made + CHUNK, responses)):
                answers = {lid: generator.randint(1, 5) for lid in STATEMENTS}
                document = balance_response(
                    answers, gap_now=generator.randint(1, 7), gap_wanted=generator.randint(1, 7)
                )
                at = began + timedelta(minutes=7 * index, seconds=generator.randint(0, 59))
                document["authored"] = at.isoformat()
                rows.append(
                    {
                        "id": uuid.uuid4(),
                        "clinic_id": clinic.id,
                        "client_id": clients[index % CLIENTS],
                        "instrument_id": balance.id,
                        "status": "completed",
                        "authored": at,
                        "questionnaire_response": document,
                        "flags": [],
                        "version": 1,
                        "created_at": at,
                        "updated_at": at,
                    }
                )
            session.execute(insert(Response), rows)
            session.commit()
            made += len(rows)
            say(f"  {made:,} of {responses:,} responses stored")
        job = ExportJob(
            level=ExportLevel.SYSTEM,
            types=["QuestionnaireResponse"],
            request_url="http://127.0.0.1:8000/fhir/$export?_type=QuestionnaireResponse",
            requested_by="bench",
        )
        session.add(job)
        session.commit()
        clinic_id, job_id = clinic.id, job.id
    if engine.dialect.name == "postgresql":
        # as autovacuum would have by then: the planner knows the table's new size
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE response")
    engine.dispose()
    return clinic_id, job_id


def requeue(url: str, job_id: uuid.UUID) -> None:
    """Put the finished job back in the queue (the same export, run again)."""
    engine = make_engine(url)
    with ClinicSession(engine) as session, across_clinics(session):
        job = session.get(ExportJob, job_id)
        assert job is not None
        job.status, job.worker, job.attempts = ExportStatus.QUEUED, None, 0
        session.commit()
    engine.dispose()


def current_rss_kb() -> int:
    """This process's resident set now (Linux), in KiB."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() // 1024


def run_export(url: str, export_dir: str, batch: int, traced: bool) -> dict[str, Any]:
    """One `ExportWorker.step()` in this process (a fresh one), its resident memory sampled
    every 20 ms: at the start, and at its highest while the export ran."""
    import threading
    import tracemalloc

    settings = Settings(database_url=url, auto_migrate=False, export_dir=export_dir)
    engine = make_engine(url)
    worker = ExportWorker(engine, settings, batch_size=batch)
    start = current_rss_kb()
    highest = start
    running = threading.Event()
    running.set()

    def sample() -> None:
        nonlocal highest
        while running.is_set():
            highest = max(highest, current_rss_kb())
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    if traced:
        tracemalloc.start()
    began = time.perf_counter()
    assert worker.step(), "no job was waiting"
    seconds = time.perf_counter() - began
    traced_peak = tracemalloc.get_traced_memory()[1] if traced else None
    running.clear()
    sampler.join()
    highest = max(highest, current_rss_kb())
    engine.dispose()
    return {
        "seconds": seconds,
        "rss_start_kb": start,
        "rss_peak_kb": highest,
        "max_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "traced_peak_bytes": traced_peak,
    }


def in_child(url: str, export_dir: str, batch: int, traced: bool) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", url, "--export-dir", export_dir]
    command += ["--batch", str(batch)] + (["--traced"] if traced else [])
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def check_file(export_dir: str, job_id: uuid.UUID, expected: int) -> None:
    from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

    directory = Path(export_dir) / str(job_id)
    files = sorted(directory.glob("*/QuestionnaireResponse-*.ndjson"))
    lines = 0
    for path in files:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle):
                lines += 1
                if number % 997 == 0:  # a sample: validating every line would dominate
                    QuestionnaireResponse.model_validate(json.loads(line))
    assert lines == expected, f"{lines} lines for {expected} responses"


def measure(size: int, postgres: str | None, batch: int) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory() as directory,
        fresh_database(Path(directory), postgres) as url,
    ):
        say(f"{size:,} responses on {'PostgreSQL' if postgres else 'SQLite'}: seeding")
        _, job_id = seed(url, size)
        export_dir = str(Path(directory) / "exports")
        say("  exporting")
        plain = in_child(url, export_dir, batch, traced=False)
        check_file(export_dir, job_id, size)
        say("  exporting again under tracemalloc")
        requeue(url, job_id)
        traced = in_child(url, export_dir, batch, traced=True)
        files = sum(p.stat().st_size for p in (Path(export_dir) / str(job_id)).rglob("*.ndjson"))
    return {
        "size": size,
        "database": "PostgreSQL" if postgres else "SQLite",
        "rows_per_second": size / plain["seconds"],
        "seconds": plain["seconds"],
        "rss_start_mb": plain["rss_start_kb"] / 1024,
        "rss_peak_mb": plain["rss_peak_kb"] / 1024,
        "max_rss_mb": plain["max_rss_kb"] / 1024,
        "traced_peak_mb": traced["traced_peak_bytes"] / 2**20,
        "file_mb": files / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated response counts")
    parser.add_argument("--postgres", help="postgresql+psycopg://... to measure there instead")
    parser.add_argument("--batch", type=int, default=1000, help="rows per batch (worker default)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--export-dir", help=argparse.SUPPRESS)
    parser.add_argument("--traced", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        result = run_export(
            arguments.child, arguments.export_dir, arguments.batch, arguments.traced
        )
        print(json.dumps(result))
        return

    sizes = [int(size) for size in arguments.sizes.split(",")]
    results = [measure(size, arguments.postgres, arguments.batch) for size in sizes]
    print(
        f"{'database':<11} {'responses':>10} {'seconds':>8} {'rows/s':>8} {'RSS start':>10} "
        f"{'RSS peak':>9} {'growth':>7} {'ru_maxrss':>10} {'tracemalloc':>12} {'file':>7}"
    )
    for r in results:
        print(
            f"{r['database']:<11} {r['size']:>10,} {r['seconds']:>8.1f} "
            f"{r['rows_per_second']:>8,.0f} {r['rss_start_mb']:>7.0f} MB "
            f"{r['rss_peak_mb']:>6.0f} MB {r['rss_peak_mb'] - r['rss_start_mb']:>4.0f} MB "
            f"{r['max_rss_mb']:>7.0f} MB {r['traced_peak_mb']:>9.1f} MB {r['file_mb']:>4.0f} MB"
        )
    print(
        "RSS start/peak: resident memory when the export began and its highest while it ran "
        "(sampled every 20 ms); ru_maxrss: the process's peak since it started (imports "
        "included); tracemalloc: the peak of Python's allocations during the export (a second "
        "run of the same job)."
    )


if __name__ == "__main__":
    main()

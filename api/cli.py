"""The `tandem` command."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from api.settings import get_settings

if TYPE_CHECKING:
    from sqlalchemy import Engine


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tandem", description="Tandem: a FHIR-compatible API for couples counselling."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the API (uvicorn)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(run=_serve)

    db = commands.add_parser("db", help="database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_commands.add_parser(
        "upgrade", help="apply pending migrations and install new built-in instruments"
    )
    upgrade.set_defaults(run=_db_upgrade)
    current = db_commands.add_parser("current", help="print the schema revision and the newest one")
    current.set_defaults(run=_db_current)
    revision = db_commands.add_parser(
        "revision", help="write a new migration from the difference between models and database"
    )
    revision.add_argument("-m", "--message", required=True)
    revision.set_defaults(run=_db_revision)

    clinic = commands.add_parser("clinic", help="clinics (tenants)")
    clinic_commands = clinic.add_subparsers(dest="clinic_command", required=True)
    clinic_create = clinic_commands.add_parser(
        "create", help="new clinic; prints JSON {clinic_id, client_id, client_secret}"
    )
    clinic_create.add_argument("name")
    clinic_create.set_defaults(run=_clinic_create)
    clinic_origins = clinic_commands.add_parser(
        "origins",
        help="the origins (https://pm.example) whose pages may frame the clinic's embedded "
        "report: prints them, or sets them to the ORIGINs given; prints JSON",
    )
    clinic_origins.add_argument("clinic_id", metavar="CLINIC_ID")
    clinic_origins.add_argument("origins", nargs="*", metavar="ORIGIN")
    clinic_origins.add_argument(
        "--none", action="store_true", help="remove every origin: no page may frame the report"
    )
    clinic_origins.set_defaults(run=_clinic_origins)

    worker = commands.add_parser(
        "worker",
        help="run Bulk Data exports (the same loop the server runs in a thread) until stopped",
    )
    worker.add_argument(
        "--once", action="store_true", help="run the exports waiting now, then exit"
    )
    worker.set_defaults(run=_worker)

    openapi = commands.add_parser("openapi", help="print the OpenAPI document")
    openapi.add_argument("--output", help="write to this file instead of standard output")
    openapi.set_defaults(run=_openapi)

    capability = commands.add_parser(
        "capability", help="print the FHIR CapabilityStatement (what /fhir/metadata answers)"
    )
    capability.add_argument("--output", help="write to this file instead of standard output")
    capability.set_defaults(run=_capability)

    arguments = parser.parse_args(argv)
    logging.basicConfig(level=get_settings().log_level, format="%(levelname)s %(name)s %(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    return int(arguments.run(arguments) or 0)


def _serve(arguments: argparse.Namespace) -> int:
    import uvicorn

    settings = get_settings()
    # Log records without the thread and process names: the format `main` gives the log
    # shows neither, and every request logs a line (the logging HOWTO's "Optimization").
    # Only here, where Tandem sets the logging up: a host's own format may show them.
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    print(f"Tandem on http://{arguments.host}:{arguments.port} (docs at /docs)", file=sys.stderr)
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=arguments.host,
        port=arguments.port,
        access_log=False,  # our own access log names route templates, never raw paths
        # The standard event loop: under saturation uvloop served some connections
        # far later than others (p99 706 ms against asyncio's 83 ms for the same
        # load, bench/workflow.py), for no gain in throughput.
        loop="asyncio",
        log_level=settings.log_level.lower(),
    )
    return 0


def _db_upgrade(_arguments: argparse.Namespace) -> int:
    from api.persistence import make_engine
    from api.persistence.migrations import current_revision
    from api.services.maintenance import prepare_database

    engine = make_engine(get_settings().database_url)
    added = prepare_database(engine)
    print(
        f"schema at revision {current_revision(engine)}; {added} built-in instrument row(s) added"
    )
    return 0


def _db_current(_arguments: argparse.Namespace) -> int:
    from api.persistence import make_engine
    from api.persistence.migrations import current_revision, head_revision

    engine = make_engine(get_settings().database_url)
    current, head = current_revision(engine), head_revision()
    print(f"current: {current or '(empty database)'}\nhead:    {head}")
    return 0 if current == head else 1


def _db_revision(arguments: argparse.Namespace) -> int:
    from alembic import command

    from api.persistence import make_engine
    from api.persistence.migrations import alembic_config, is_current

    engine = make_engine(get_settings().database_url)
    if not is_current(engine):
        print("the database is not at the newest revision: run `tandem db upgrade` first")
        return 1
    command.revision(alembic_config(engine), message=arguments.message, autogenerate=True)
    return 0


def _database(migrate: bool = True) -> Engine | None:
    """The configured database's engine, its schema current (migrated first where the
    settings allow it and `migrate` does), or None after saying why on stderr."""
    from api.persistence import make_engine
    from api.persistence.migrations import is_current
    from api.services.maintenance import prepare_database

    settings = get_settings()
    engine = make_engine(settings.database_url)
    if migrate and settings.migrate_on_start:
        prepare_database(engine)
    elif not is_current(engine):
        print(
            "the database schema is not up to date: run `tandem db upgrade` first", file=sys.stderr
        )
        engine.dispose()
        return None
    return engine


def _clinic_create(arguments: argparse.Namespace) -> int:
    from api.persistence import ClinicSession
    from api.services.clinics import open_clinic

    engine = _database()
    if engine is None:
        return 1
    with ClinicSession(engine, expire_on_commit=False) as session:
        clinic, integration, secret = open_clinic(session, arguments.name)
        session.commit()
    print(
        json.dumps(
            {
                "clinic_id": str(clinic.id),
                "client_id": integration.client_id,
                "client_secret": secret,
            },
            indent=2,
        )
    )
    return 0


def _worker(arguments: argparse.Namespace) -> int:
    import signal

    from api.services.bulk_export import ExportWorker

    settings = get_settings()
    engine = _database(migrate=False)
    if engine is None:
        return 1
    worker = ExportWorker(engine, settings)
    if arguments.once:
        worker.purge()
        ran = 0
        while worker.step():
            ran += 1
        print(f"{ran} export job(s) run", file=sys.stderr)
        return 0

    def stop(_signal: int, _frame: object) -> None:
        # the loop ends after the batch under way, handing its job back to the queue;
        # a second Ctrl-C interrupts at once
        worker.stop(timeout=0)
        signal.signal(signal.SIGINT, signal.default_int_handler)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"export worker {worker.name}: waiting for jobs (Ctrl-C stops)", file=sys.stderr)
    worker.run()
    engine.dispose()
    return 0


def _clinic_origins(arguments: argparse.Namespace) -> int:
    import uuid

    from api.errors import InvalidInput
    from api.persistence import ClinicSession, scope_to_clinic
    from api.services import embed
    from schemas import Clinic

    if arguments.none and arguments.origins:
        print("give origins or --none, not both", file=sys.stderr)
        return 2
    try:
        clinic_id = uuid.UUID(arguments.clinic_id)
    except ValueError:
        print(f"'{arguments.clinic_id}' is not a clinic id", file=sys.stderr)
        return 2
    engine = _database()
    if engine is None:
        return 1
    try:
        with ClinicSession(engine, expire_on_commit=False) as session:
            scope_to_clinic(session, clinic_id)
            if session.get(Clinic, clinic_id) is None:
                print(f"no clinic {clinic_id}", file=sys.stderr)
                return 1
            if arguments.origins or arguments.none:
                try:
                    origins = embed.set_embed_origins(session, arguments.origins)
                except InvalidInput as invalid:
                    for problem in invalid.errors:
                        print(problem.detail, file=sys.stderr)
                    return 1
                session.commit()
            else:
                origins = embed.embed_origins(session)
    finally:
        engine.dispose()
    print(json.dumps({"clinic_id": str(clinic_id), "embed_origins": origins}, indent=2))
    return 0


def _openapi(arguments: argparse.Namespace) -> int:
    from api.app import create_app

    _write(arguments.output, create_app().openapi())
    return 0


def _capability(arguments: argparse.Namespace) -> int:
    from api import __version__
    from integrations.fhir.capability import capability_statement

    base = get_settings().public_url.rstrip("/") + "/fhir"
    _write(arguments.output, capability_statement(__version__, base))
    return 0


def _write(output: str | None, content: object) -> None:
    document = json.dumps(content, indent=2, ensure_ascii=False) + "\n"
    if output:
        with open(output, "w", encoding="utf-8") as file:
            file.write(document)
    else:
        sys.stdout.write(document)


if __name__ == "__main__":
    raise SystemExit(main())

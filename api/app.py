"""The FastAPI application factory."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.routing import APIRoute

from api import __version__
from api.middleware import BodyLimit, RequestContext
from api.persistence import make_engine
from api.persistence.connection import ConnectionBinds, PostgresPools
from api.persistence.engine import Checkpointer
from api.persistence.migrations import is_current
from api.persistence.session import write_engine_of
from api.problems import install_problem_handlers
from api.routes import (
    alerts,
    assignments,
    bulk_export,
    charts,
    clients,
    embed,
    fhir,
    health,
    instruments,
    oauth,
    plans,
    portal_api,
    portal_pages,
    reports,
    responses,
)
from api.services.bulk_export import ExportWorker
from api.services.maintenance import prepare_database
from api.settings import Settings, get_settings

DESCRIPTION = """\
Tandem is a headless, FHIR-compatible API for couples and relationship
counselling: balance assessments, weekly couple check-ins and intervention
plans. Practice-management systems assign homework and read back scored
results; clients complete it through a portal link.

Errors are RFC 9457 `application/problem+json` documents.
"""


def operation_id(route: APIRoute) -> str:
    """Operation ids are the handler names: stable, and readable in generated clients."""
    return route.name


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    engine = make_engine(settings.database_url, background_checkpoints=settings.is_sqlite)
    checkpointer = Checkpointer(engine) if settings.is_sqlite else None
    pools = (
        None
        if settings.is_sqlite
        else PostgresPools(settings.database_url, writers=settings.write_concurrency)
    )
    export_worker = ExportWorker(engine, settings) if settings.export_worker else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.migrate_on_start:
            prepare_database(engine)
        elif not is_current(engine):
            raise RuntimeError(
                "the database schema is not up to date: run `tandem db upgrade` first"
            )
        if checkpointer is not None:
            checkpointer.start()
        if pools is not None:
            await pools.open()
        # Everything made so far (routes, schemas, compiled statements) lives as long
        # as the app: out of the collector's way, full collections stay short. And a
        # young collection every 10,000 new objects, not 700: a submission makes
        # thousands that die young on their own (README, performance).
        gc.collect()
        gc.freeze()
        gc.set_threshold(10_000, 10, 10)
        if export_worker is not None:
            export_worker.start()
        yield
        if export_worker is not None:
            export_worker.stop()
        if checkpointer is not None:
            checkpointer.stop()
        app.state.connection_binds.close()
        engine.dispose()
        if pools is not None:
            await pools.close()

    app = FastAPI(
        title="Tandem",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.write_engine = write_engine_of(engine)
    app.state.connection_binds = ConnectionBinds.of(engine, pools)
    app.state.checkpointer = checkpointer
    app.state.export_worker = export_worker
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContext)  # outermost: ids and the access log cover every answer
    install_problem_handlers(app)
    # The hot routes first: FastAPI tries a request against every route of each router
    # included before its own, twice (to match, then to handle it). Behind the portal
    # pages' nine routes, a read of a response took 8.8% more instructions; behind the
    # portal API's five, 5.9% more, where a submission behind the reads' three takes
    # 1.4% more (README, performance).
    for module in (
        responses,  # reading a response: three routes, its own first
        portal_api,  # the submission first
        assignments,
        portal_pages,  # the client's pages; /portal/{token} matches one segment only
        clients,
        reports,
        alerts,
        plans,
        charts,
        embed,
        bulk_export,  # before fhir: /fhir/$export is no search, /fhir/Patient/$export no read
        fhir,
        instruments,
        oauth,
        health,
    ):
        app.include_router(module.router)
    logging.getLogger("tandem").setLevel(settings.log_level)
    return app

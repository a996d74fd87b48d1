"""`create_app(settings)`: builds the whole web application. Nothing is created at import
time, so tests build as many apps, on as many databases, as they like."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pegada import __version__
from pegada.api.collector import get_data
from pegada.api.errors import on_http_error, on_pegada_error, on_unexpected
from pegada.api.hits import PATH as HITS_PATH
from pegada.api.hits import HitsEndpoint, HitsRoute
from pegada.api.openapi import docs_routes
from pegada.api.read import read_routes
from pegada.api.replies import json_response
from pegada.api.routes import api_routes
from pegada.api.tracker_script import tracker_script
from pegada.attribution.rules import ChannelRules, default_rules
from pegada.errors import PegadaError
from pegada.ingest.projector import spool_projector
from pegada.ingest.tenants import TenantDirectory
from pegada.ingest.writer import HitWriter
from pegada.ratelimit import Limiter
from pegada.settings import Settings
from pegada.storage.engine import build_engine
from pegada.storage.spool import Spool


async def health(_request: Request) -> Response:
    return json_response({"success": True, "dados": {"version": __version__}})


def create_app(settings: Settings, engine: Engine | None = None) -> Starlette:
    """The ASGI app. Pass `engine` to share one (tests); otherwise one is built and disposed
    with the app."""
    owned = engine is None
    db = build_engine(settings) if engine is None else engine

    rules = (
        ChannelRules.load(Path(settings.channel_rules))
        if settings.channel_rules
        else (default_rules())
    )

    tenants = TenantDirectory(db)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        spool_file = settings.spool_file()
        writer = HitWriter(Spool(spool_file))
        writer.start()
        app.state.hit_writer = writer
        try:
            # Its own connection to the spool: it runs in worker threads, the writer on the
            # loop.
            with spool_projector(db, spool_file, rules, tenants) as projector:
                app.state.projector = projector
                yield
        finally:
            await writer.stop()
            writer.spool.close()
            if owned:
                db.dispose()

    app = Starlette(
        routes=[
            Route("/healthz", health),
            Route("/libs/RBTracking.min.js", tracker_script),
            Route(HITS_PATH, HitsRoute(), methods=["POST"]),
            Route("/api/getData", get_data, methods=["POST"]),
            *api_routes(),
            *read_routes(),
            *docs_routes(),
        ],
        middleware=[
            # Page hits are served before anything else runs (api/hits.py).
            Middleware(HitsEndpoint),
            # Browsers call the API from schools' sites; nothing relies on cookies, so any
            # origin may read replies (tenants restrict hit origins themselves).
            Middleware(
                CORSMiddleware,
                allow_origins=["*"],
                allow_methods=["GET", "POST", "PATCH", "OPTIONS"],
                allow_headers=["content-type", "authorization"],
                # A dashboard on another site learns why a read was refused.
                expose_headers=["WWW-Authenticate"],
                max_age=86400,
            ),
        ],
        exception_handlers={
            PegadaError: on_pegada_error,
            HTTPException: on_http_error,
            Exception: on_unexpected,
        },
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = db
    app.state.tenants = tenants
    app.state.limiter = Limiter(limit=settings.browser_requests_per_minute)
    return app


def app_from_env() -> Starlette:
    """Factory for uvicorn (`pegada serve`): settings from the environment."""
    return create_app(Settings.from_env())

"""`create_app(settings)`: builds the whole web application. Nothing is created at import
time, so tests build as many apps, on as many databases, as they like."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pegada import __version__
from pegada.api.errors import on_http_error, on_pegada_error, on_unexpected
from pegada.api.openapi import docs_routes
from pegada.api.replies import json_response
from pegada.api.routes import api_routes
from pegada.errors import PegadaError
from pegada.settings import Settings
from pegada.storage.engine import build_engine


async def health(_request: Request) -> Response:
    return json_response({"success": True, "dados": {"version": __version__}})


def create_app(settings: Settings, engine: Engine | None = None) -> Starlette:
    """The ASGI app. Pass `engine` to share one (tests); otherwise one is built and disposed
    with the app."""
    owned = engine is None
    db = build_engine(settings) if engine is None else engine

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        if owned:
            db.dispose()

    app = Starlette(
        routes=[Route("/healthz", health), *api_routes(), *docs_routes()],
        exception_handlers={
            PegadaError: on_pegada_error,
            HTTPException: on_http_error,
            Exception: on_unexpected,
        },
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = db
    return app


def app_from_env() -> Starlette:
    """Factory for uvicorn (`pegada serve`): settings from the environment."""
    return create_app(Settings.from_env())

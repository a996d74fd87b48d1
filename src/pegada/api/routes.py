"""Starlette routes built from the operations table."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pegada.api.body import read_payload
from pegada.api.collector import admit_browser, from_browser
from pegada.api.operations import OPERATIONS, Operation
from pegada.api.replies import success
from pegada.ingest.projector import after_catching_up


def _handler(operation: Operation) -> Callable[[Request], Awaitable[Response]]:
    async def handle(request: Request) -> Response:
        settings = request.app.state.settings
        payload: object
        payload, document = await read_payload(
            request, operation.body, settings.max_body_bytes, settings.max_json_depth
        )
        browser = operation.browser_ok and from_browser(request, payload)
        if browser:
            await admit_browser(request, payload.hostClient, payload.session_id)  # type: ignore[attr-defined]
        # Every operation sees the hits acknowledged before it (identify places the
        # session's current visit, the CRM reads page accesses).
        dados = await run_in_threadpool(
            after_catching_up,
            request.app.state.projector,
            operation.run,
            request.app.state.engine,
            payload,
            document,
            browser,
        )
        return success(dados)

    handle.__name__ = operation.path.strip("/").replace("/", "_")
    return handle


def api_routes() -> list[Route]:
    return [
        Route(operation.path, _handler(operation), methods=list(operation.methods))
        for operation in OPERATIONS
    ]

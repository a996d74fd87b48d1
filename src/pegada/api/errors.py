"""Turning every failure into a JSON reply a client can act on.

Domain errors become their 4xx with the fields named. Anything unexpected becomes a 500
with a generic sentence and is logged with its traceback on the server only: the client
never sees a stack trace.
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from pegada.api.replies import json_response
from pegada.errors import PegadaError

log = logging.getLogger("pegada.api")


def failure_content(message: str, fields: dict[str, str] | None = None) -> dict[str, object]:
    """What every failure reply says (api/hits.py writes it without a Response)."""
    return {"success": False, "error": message, "fields": fields or {}}


def failure(status: int, message: str, fields: dict[str, str] | None = None) -> Response:
    return json_response(failure_content(message, fields), status)


async def on_pegada_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PegadaError)
    return failure(exc.status, exc.message, exc.fields)


async def on_http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    messages = {404: "no such endpoint", 405: "method not allowed on this endpoint"}
    reply = failure(exc.status_code, messages.get(exc.status_code, str(exc.detail)))
    if exc.headers:
        reply.headers.update(exc.headers)
    return reply


async def on_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return failure(500, "internal error; the request was not applied")

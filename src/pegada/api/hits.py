"""`POST /api/collect`: page hits, answered straight from ASGI.

This is the request a school's every visitor makes on every page, so it skips what the
rest of the API goes through per request (the router's table, Starlette's Request and
Response objects, the CORS middleware's wrapping of `send`) and reads the few headers it
needs from the raw scope. What it does is the same as any endpoint: beacon-friendly bodies
(JSON sent as `text/plain`, so no CORS preflight), the tenant from `hostClient`, a reply
only after the group-commit writer committed the request to the spool (204), 4xx JSON
naming the field for bad input, and a refused hit counted with its reason, never silently
lost. Enrichment and visits happen when the projector takes the request from the spool
(ingest/projector.py).

`HitsEndpoint` wraps the Starlette app: every other request passes through untouched.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from starlette.requests import ClientDisconnect

from pegada.api.body import receive_body
from pegada.api.collector import decode, find_tenant
from pegada.api.errors import failure_content
from pegada.clock import epoch_microseconds
from pegada.errors import Forbidden, PegadaError
from pegada.ingest.payload import CollectBody
from pegada.ingest.pipeline import DropReason
from pegada.ingest.tenants import TrackedTenant
from pegada.ingest.urls import ip_prefix
from pegada.ingest.writer import HitWriter

log = logging.getLogger("pegada.ingest")

PATH = "/api/collect"
#: Any site may read the reply (the tenant restricts hit origins itself), as the CORS
#: middleware answers for the rest of the API.
_CORS = (b"access-control-allow-origin", b"*")
_STORED = {
    "type": "http.response.start",
    "status": 204,
    "headers": [(b"cache-control", b"no-store"), _CORS],
}
_EMPTY = {"type": "http.response.body", "body": b""}
_encode = msgspec.json.Encoder().encode

Scope = dict[str, Any]


class _Headers:
    """The request headers the hit path reads, found in one pass over the raw list."""

    __slots__ = ("content_length", "dnt", "gpc", "origin", "user_agent")

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self.user_agent = ""
        self.origin: str | None = None
        self.content_length: bytes | None = None
        self.dnt = self.gpc = False
        for name, value in raw:
            if name == b"user-agent":
                self.user_agent = value.decode("latin-1")
            elif name == b"origin":
                self.origin = value.decode("latin-1")
            elif name == b"content-length":
                self.content_length = value
            elif name == b"dnt":
                self.dnt = value == b"1"
            elif name == b"sec-gpc":
                self.gpc = value == b"1"


class HitsEndpoint:
    """ASGI middleware: serves `POST /api/collect` itself, hands everything else to `app`."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == PATH and scope["method"] == "POST":
            await serve_hits(scope, receive, send)
        else:
            await self.app(scope, receive, send)


class HitsRoute:
    """The route's ASGI app, so the router still knows the path (405 for other methods,
    when a request reaches the router without the middleware)."""

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        await serve_hits(scope, receive, send)


async def serve_hits(scope: Scope, receive: Any, send: Any) -> None:
    try:
        await _collect(scope, receive, send)
    except ClientDisconnect:
        return  # nobody to answer; nothing was stored
    except PegadaError as exc:
        await _failure(send, exc.status, exc.message, exc.fields)
    except Exception:
        log.exception("unexpected error on POST %s", PATH)
        await _failure(send, 500, "internal error; the request was not applied")


async def _collect(scope: Scope, receive: Any, send: Any) -> None:
    state = scope["app"].state
    headers = _Headers(scope["headers"])
    raw = await receive_body(receive, headers.content_length, state.settings.max_body_bytes)
    body: CollectBody = decode(raw, CollectBody)
    tenant = await find_tenant(state.tenants, body.h)
    writer: HitWriter = state.hit_writer
    if not tenant.allows_origin(headers.origin):
        await _count_refusal(writer, tenant, DropReason.ORIGIN_REFUSED, body)
        raise Forbidden("origin: this site is not allowed to send hits", {"origin": "refused"})
    if tenant.honor_dnt and (headers.dnt or headers.gpc):
        await _count_refusal(writer, tenant, DropReason.DO_NOT_TRACK, body)
        await _stored(send)
        return
    client = scope.get("client")
    network = ip_prefix(client[0]) if client else None
    record = (epoch_microseconds(), tenant.host_client, headers.user_agent, network, None, 0, raw)
    try:
        await writer.submit(record)
    except Exception:
        message = "storage unavailable; the hits were not stored, send them again"
        await _failure(send, 503, message)
        return
    await _stored(send)


async def _count_refusal(
    writer: HitWriter, tenant: TrackedTenant, reason: DropReason, body: CollectBody
) -> None:
    """Count refused hits (spooled as a number only: nothing of what a visitor who opted out
    sent is written); the reply does not depend on the count being stored."""
    record = (
        epoch_microseconds(),
        tenant.host_client,
        None,
        None,
        reason.value,
        len(body.hits),
        None,
    )
    try:
        await writer.submit(record)
    except Exception:
        log.warning("refusal of %d hits (%s) not counted", len(body.hits), reason)


async def _stored(send: Any) -> None:
    await send(_STORED)
    await send(_EMPTY)


async def _failure(
    send: Any, status: int, message: str, fields: dict[str, str] | None = None
) -> None:
    """The API's failure reply (api/errors.py `failure`), written to ASGI directly."""
    body = _encode(failure_content(message, fields))
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                _CORS,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})

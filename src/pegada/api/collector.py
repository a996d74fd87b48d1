"""The browser-facing endpoints: page hits (`/api/collect`) and `getData`.

Beacon-friendly: bodies are JSON sent as `text/plain` (no CORS preflight), the tenant comes
from `hostClient`, and a hit is acknowledged (204) only after it is committed by the group
-commit writer. A refused hit is counted with its reason, never silently lost.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from pegada.api.body import explain, read_body
from pegada.api.errors import failure
from pegada.api.replies import success
from pegada.clock import utcnow
from pegada.errors import Forbidden, InvalidInput, MalformedBody, NotFound
from pegada.ingest.payload import CollectBody, GetDataBody
from pegada.ingest.pipeline import Drop, DropReason, RequestContext, process
from pegada.ingest.tenants import TenantDirectory, TrackedTenant
from pegada.ingest.urls import ip_prefix
from pegada.ingest.writer import HitWriter
from pegada.usecases.browser_data import session_data

_NO_CONTENT_HEADERS = {"Cache-Control": "no-store"}
log = logging.getLogger("pegada.ingest")


async def tracked_tenant(request: Request, host_client: str) -> TrackedTenant:
    directory: TenantDirectory = request.app.state.tenants
    hit, tenant = directory.cached(host_client)
    if not hit:
        tenant = await run_in_threadpool(directory.load, host_client)
    if tenant is None:
        raise NotFound(f"h: no tenant with code {host_client!r}", {"h": "unknown tenant"})
    return tenant


def from_browser(request: Request, payload: Any) -> bool:
    """A tokenless call made by a page: browsers always send Origin on these requests. A
    server that forgets its token (no Origin) still gets 401, not the lower trust level."""
    return not payload.credentials_given() and request.headers.get("origin") is not None


async def admit_browser(request: Request, host_client: str, session_hash: str) -> TrackedTenant:
    """Origin allowed for the tenant, and within the per-session and per-network limits."""
    tenant = await tracked_tenant(request, host_client)
    if not tenant.allows_origin(request.headers.get("origin")):
        raise Forbidden("origin: this site is not allowed to call Pegada", {"origin": "refused"})
    limiter = request.app.state.limiter
    limiter.check(f"s:{tenant.id}:{session_hash}")
    network = ip_prefix(request.client.host if request.client else None)
    limiter.check(f"n:{tenant.id}:{network}", factor=4)
    return tenant


def _decode(raw: bytes, shape: type[Any]) -> Any:
    if b"\\u0000" in raw:
        raise InvalidInput("body: contains a NUL character", {"body": "contains a NUL character"})
    try:
        return msgspec.json.decode(raw, type=shape)
    except msgspec.ValidationError as exc:
        field, message = explain(str(exc))
        raise InvalidInput(f"{field}: {message}", {field: message}) from exc
    except msgspec.DecodeError as exc:
        raise MalformedBody(f"body: not valid JSON ({exc})", {"body": "not valid JSON"}) from exc


def _opted_out(request: Request, tenant: TrackedTenant) -> bool:
    headers = request.headers
    return tenant.honor_dnt and (headers.get("dnt") == "1" or headers.get("sec-gpc") == "1")


async def _count_drop(writer: HitWriter, drop: Drop) -> None:
    """Count a refusal; the reply does not depend on the count being stored."""
    try:
        await writer.submit([], [drop])
    except Exception:
        log.warning("drop of %d hits (%s) not counted", drop.count, drop.reason)


async def collect(request: Request) -> Response:
    settings = request.app.state.settings
    body: CollectBody = _decode(await read_body(request, settings.max_body_bytes), CollectBody)
    tenant = await tracked_tenant(request, body.h)
    writer = request.app.state.hit_writer
    if not tenant.allows_origin(request.headers.get("origin")):
        await _count_drop(writer, Drop(tenant.id, DropReason.ORIGIN_REFUSED, len(body.hits)))
        raise Forbidden("origin: this site is not allowed to send hits", {"origin": "refused"})
    if _opted_out(request, tenant):
        await _count_drop(writer, Drop(tenant.id, DropReason.DO_NOT_TRACK, len(body.hits)))
        return Response(status_code=204, headers=_NO_CONTENT_HEADERS)
    context = RequestContext(
        tenant.id,
        request.headers.get("user-agent", ""),
        request.client.host if request.client else None,
        utcnow(),
        tenant.own_hosts,
        tenant.timezone,
        timedelta(minutes=tenant.visit_idle_minutes),
    )
    views, drops = process(body, context, request.app.state.rules)
    try:
        await writer.submit(views, drops)
    except Exception:
        return failure(503, "storage unavailable; the hits were not stored, send them again")
    return Response(status_code=204, headers=_NO_CONTENT_HEADERS)


async def get_data(request: Request) -> Response:
    settings = request.app.state.settings
    body: GetDataBody = _decode(await read_body(request, settings.max_body_bytes), GetDataBody)
    if not body.s:
        return failure(400, "Hash não enviado", {"s": "is required"})
    tenant = await admit_browser(request, body.h, body.s)
    data = await run_in_threadpool(session_data, request.app.state.engine, tenant.id, body.s)
    return success(data)

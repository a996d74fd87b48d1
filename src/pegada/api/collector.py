"""The browser-facing endpoint `getData`, and what the browser endpoints share: the
tenant from `hostClient`, allowed origins, rate limits, decoding. Page hits
(`/api/collect`) have their own lean entry (api/hits.py)."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from pegada.api.body import explain, read_body
from pegada.api.errors import failure
from pegada.api.replies import success
from pegada.errors import Forbidden, InvalidInput, MalformedBody, NotFound
from pegada.ingest.payload import GetDataBody
from pegada.ingest.tenants import TenantDirectory, TrackedTenant
from pegada.ingest.urls import ip_prefix
from pegada.usecases.browser_data import session_data


async def tracked_tenant(request: Request, host_client: str) -> TrackedTenant:
    return await find_tenant(request.app.state.tenants, host_client)


async def find_tenant(directory: TenantDirectory, host_client: str) -> TrackedTenant:
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


def decode(raw: bytes, shape: type[Any]) -> Any:
    if b"\\u0000" in raw:
        raise InvalidInput("body: contains a NUL character", {"body": "contains a NUL character"})
    try:
        return msgspec.json.decode(raw, type=shape)
    except msgspec.ValidationError as exc:
        field, message = explain(str(exc))
        raise InvalidInput(f"{field}: {message}", {field: message}) from exc
    except msgspec.DecodeError as exc:
        raise MalformedBody(f"body: not valid JSON ({exc})", {"body": "not valid JSON"}) from exc


async def get_data(request: Request) -> Response:
    settings = request.app.state.settings
    body: GetDataBody = decode(await read_body(request, settings.max_body_bytes), GetDataBody)
    if not body.s:
        return failure(400, "Hash não enviado", {"s": "is required"})
    tenant = await admit_browser(request, body.h, body.s)
    data = await run_in_threadpool(session_data, request.app.state.engine, tenant.id, body.s)
    return success(data)

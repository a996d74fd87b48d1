"""The read API (`GET /api/v1/…`): a contact's timeline, the contacts list and the reports,
for the dashboard and for integrations.

Authenticated by a channel token of the tenant, `Authorization: Bearer <token>` (the token's
digest names the tenant). Query parameters are declared once in `READ_ENDPOINTS`, which
drives their parsing here and their description in `/openapi.json` and `/docs`; a bad or
unknown parameter is a 422 naming it. Lists are paginated by an opaque `cursor`: a reply's
`next_cursor` (null on the last page) fetches the next page.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pegada.api.errors import failure
from pegada.api.replies import success
from pegada.errors import AuthFailed, InvalidInput
from pegada.ids import TOKEN_RE
from pegada.ingest.projector import after_catching_up
from pegada.storage.reports.dimensions import DIMENSIONS
from pegada.tenancy import Tenant
from pegada.usecases import contacts_list, reports, timeline
from pegada.usecases.reports import Page

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
_MAX_CURSOR = 512
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_INTEGER = re.compile(r"-?\d{1,19}")


@dataclass(frozen=True)
class Param:
    """One query (or path) parameter: how it is read, and how the docs describe it."""

    name: str
    type: str  # "integer" | "string" | "date" | "cursor"
    description: str
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    max_length: int | None = None
    location: str = "query"

    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "integer" if self.type == "integer" else "string"}
        if self.type == "date":
            schema["format"] = "date"
        if self.choices:
            schema["enum"] = list(self.choices)
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        if self.max_length is not None:
            schema["maxLength"] = self.max_length
        if self.default is not None:
            schema["default"] = self.default
        return schema


@dataclass(frozen=True)
class ReadEndpoint:
    path: str
    summary: str
    description: str
    params: tuple[Param, ...]
    run: Callable[[Engine, Tenant, dict[str, Any]], Page]
    reply_example: Any
    paginated: bool = False


# --- parameters ------------------------------------------------------------------------------


def _bad(name: str, problem: str) -> InvalidInput:
    return InvalidInput(f"{name}: {problem}", {name: problem})


def encode_cursor(values: list[Any]) -> str:
    raw = json.dumps(values, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> list[Any]:
    """The values a `next_cursor` carried; anything else is a 422 naming `cursor`."""
    bad = _bad("cursor", "not a cursor of this list")
    if len(text) > _MAX_CURSOR:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise bad from exc
    if not isinstance(values, list) or not values:
        raise bad
    return values


def _convert(param: Param, text: str) -> Any:
    if "\x00" in text:
        raise _bad(param.name, "contains a NUL character")
    if param.type == "integer":
        if not _INTEGER.fullmatch(text):
            raise _bad(param.name, "not a whole number")
        number = int(text)
        if param.minimum is not None and number < param.minimum:
            raise _bad(param.name, f"less than {param.minimum}")
        if param.maximum is not None and number > param.maximum:
            raise _bad(param.name, f"more than {param.maximum}")
        return number
    if param.type == "date":
        try:
            if not _DATE.fullmatch(text):
                raise ValueError(text)
            day = date.fromisoformat(text)
        except ValueError as exc:
            raise _bad(param.name, "not a date (use YYYY-MM-DD)") from exc
        if not 1000 <= day.year <= 9000:
            raise _bad(param.name, "year out of range (from 1000 to 9000)")
        return day
    if param.type == "cursor":
        return decode_cursor(text)
    if param.choices and text not in param.choices:
        raise _bad(param.name, f"must be one of {', '.join(param.choices)}")
    if param.max_length is not None and len(text) > param.max_length:
        raise _bad(param.name, f"longer than {param.max_length} characters")
    return text


def parse_params(
    params: tuple[Param, ...], query: list[tuple[str, str]], path: Mapping[str, str]
) -> dict[str, Any]:
    """Typed values of every declared parameter (defaults filled in). Unknown, repeated,
    missing or malformed parameters are refused, all named at once."""
    known = {p.name for p in params if p.location == "query"}
    errors: dict[str, str] = {}
    seen: dict[str, str] = {}
    for name, value in query:
        if name not in known:
            errors[name] = "unknown parameter"
        elif name in seen:
            errors[name] = "given more than once"
        else:
            seen[name] = value
    values: dict[str, Any] = {}
    for param in params:
        text = path.get(param.name) if param.location == "path" else seen.get(param.name)
        if text is None or (text == "" and param.location == "query"):
            if param.required:
                errors.setdefault(param.name, "is required")
            values[param.name] = param.default
            continue
        try:
            values[param.name] = _convert(param, text)
        except InvalidInput as exc:
            errors.setdefault(param.name, exc.fields[param.name])
    if errors:
        name, problem = next(iter(errors.items()))
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise InvalidInput(f"{name}: {problem}{more}", errors)
    return values


#: The protection space named in `WWW-Authenticate` (RFC 6750 §3).
REALM = "pegada"


def _presented_token(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (scheme in any case), or None
    when there is no header, another scheme or no token after `Bearer`."""
    scheme, _, token = (header or "").strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization")
    if not header:
        raise AuthFailed(
            "Authorization: a channel token is required (Authorization: Bearer <token>)",
            {"Authorization": "is required"},
        )
    token = _presented_token(header)
    if token is None:
        raise AuthFailed(
            "Authorization: use the Bearer scheme (Authorization: Bearer <token>)",
            {"Authorization": "not a Bearer token"},
        )
    if not TOKEN_RE.fullmatch(token):
        raise AuthFailed(
            "Authorization: not a channel token of any tenant", {"Authorization": "unknown token"}
        )
    return token


def _unauthorized(request: Request, refusal: AuthFailed) -> Response:
    """The 401 of a refused read, with the challenge RFC 6750 §3 (and RFC 9110 §11.6.1)
    requires, so a client learns to send a Bearer token: `error="invalid_token"` only when
    one was sent, since a request without one gets no error code."""
    challenge = f'Bearer realm="{REALM}"'
    if _presented_token(request.headers.get("authorization")) is not None:
        challenge += ', error="invalid_token"'
    reply = failure(refusal.status, refusal.message, refusal.fields)
    reply.headers["WWW-Authenticate"] = challenge
    return reply


# --- the endpoints ---------------------------------------------------------------------------

FROM = Param(
    "from",
    "date",
    "First day of the range (YYYY-MM-DD, tenant time zone, inclusive). "
    "Default: 29 days before `to`.",
)
TO = Param("to", "date", "Last day of the range (YYYY-MM-DD, inclusive). Default: today.")
LIMIT = Param(
    "limit",
    "integer",
    f"Items per page (1 to {MAX_LIMIT}).",
    default=DEFAULT_LIMIT,
    minimum=1,
    maximum=MAX_LIMIT,
)
CURSOR = Param("cursor", "cursor", "The `next_cursor` of the previous page (opaque).")


def _timeline(engine: Engine, tenant: Tenant, a: dict[str, Any]) -> Page:
    return timeline.timeline(engine, tenant, a["id"], a["order"] == "desc", a["limit"], a["cursor"])


def _contacts(engine: Engine, tenant: Tenant, a: dict[str, Any]) -> Page:
    query = contacts_list.ContactQuery(
        channel=a["channel"],
        campaign=a["campaign"],
        created_from=a["created_from"],
        created_to=a["created_to"],
        event_type=a["event_type"],
        q=a["q"],
    )
    return contacts_list.list_contacts(engine, tenant, query, a["limit"], a["cursor"])


READ_ENDPOINTS: tuple[ReadEndpoint, ...] = (
    ReadEndpoint(
        "/api/v1/contacts/{id}/timeline",
        "A contact's timeline",
        "Visits (with their pages and times, landing, exit, duration, channel, source / "
        "medium / campaign, device), events (with the channel they were credited to), form "
        "submissions and merges, in one chronological list ordered by (time, kind, id). A "
        "merged contact's id shows its survivor's timeline (`redirected_from` says so).",
        (
            Param(
                "id",
                "integer",
                "The contact's id.",
                True,
                minimum=1,
                maximum=2**63 - 1,
                location="path",
            ),
            Param(
                "order",
                "string",
                "`desc`: newest first; `asc`: oldest first.",
                default="desc",
                choices=("asc", "desc"),
            ),
            LIMIT,
            CURSOR,
        ),
        _timeline,
        {
            "contact": {"id": "155", "nome": "João Silva", "channel": "Mídia paga"},
            "redirected_from": None,
            "order": "desc",
            "items": [
                {"kind": "event", "id": "9", "at": "2025-03-10T14:02:11-03:00", "type": {}},
                {"kind": "visit", "id": "41", "at": "2025-03-10T13:55:00-03:00", "pages": []},
            ],
            "next_cursor": None,
        },
        paginated=True,
    ),
    ReadEndpoint(
        "/api/v1/contacts",
        "List and search contacts",
        "Contacts newest first (merged ones left out), filtered by first-touch channel, "
        "campaign (first or last touch), creation dates, having an event of a type, and `q`: "
        "name, e-mail, CPF or phone, ignoring accents and case; every word must match.",
        (
            Param("channel", "string", "First-touch channel type (SPEC §6).", max_length=40),
            Param("campaign", "string", "Campaign of the first or last touch.", max_length=512),
            Param("created_from", "date", "Created on or after this day (tenant time zone)."),
            Param("created_to", "date", "Created on or before this day (tenant time zone)."),
            Param(
                "event_type",
                "integer",
                "Has an event of this type id.",
                minimum=1,
                maximum=2_147_483_647,
            ),
            Param("q", "string", "Search words (name, e-mail, CPF, phone).", max_length=200),
            LIMIT,
            CURSOR,
        ),
        _contacts,
        {
            "items": [
                {
                    "id": "155",
                    "nome": "João Silva",
                    "emailPrincipal": "joao@example.com",
                    "channel": "Busca orgânica",
                    "created_at": "2025-03-10T14:02:11-03:00",
                }
            ],
            "next_cursor": "WyJjb250YWN0cyIsIjIwMjUtMDMtMTAiLDE1NV0",
        },
        paginated=True,
    ),
    ReadEndpoint(
        "/api/v1/reports/overview",
        "Overview of a range of days",
        "Visitors (distinct sessions with a visit), visits, page views, new contacts, "
        "conversions (visitor sessions identified in the range) and the conversion rate "
        "(conversions / visitors).",
        (FROM, TO),
        lambda engine, tenant, a: reports.overview(engine, tenant, a["from"], a["to"]),
        {
            "from": "2025-03-01",
            "to": "2025-03-30",
            "timezone": "America/Sao_Paulo",
            "visitors": 120,
            "visits": 150,
            "pageviews": 410,
            "contacts": 12,
            "conversions": 10,
            "conversion_rate": 0.0833,
        },
    ),
    ReadEndpoint(
        "/api/v1/reports/breakdown",
        "Every metric by one dimension",
        "The overview's metrics per channel type, source / medium / campaign, landing page, "
        "device type, browser or OS. Visits, visitors and page views by the visit's own "
        "value; contacts by their first touch; conversions by the visit they happened in.",
        (
            Param("by", "string", "The dimension.", True, choices=tuple(DIMENSIONS)),
            FROM,
            TO,
            LIMIT,
            CURSOR,
        ),
        lambda engine, tenant, a: reports.breakdown(
            engine, tenant, a["from"], a["to"], a["by"], a["limit"], a["cursor"]
        ),
        {
            "by": "channel",
            "items": [
                {
                    "key": {"channel": "Mídia paga"},
                    "label": "Mídia paga",
                    "visitors": 40,
                    "visits": 52,
                    "pageviews": 130,
                    "contacts": 6,
                    "conversions": 5,
                    "conversion_rate": 0.125,
                }
            ],
            "next_cursor": None,
        },
        paginated=True,
    ),
    ReadEndpoint(
        "/api/v1/reports/timeseries",
        "One metric per day",
        "A value for every day of the range, days without data included as 0.",
        (
            Param("metric", "string", "The metric.", True, choices=reports.METRICS),
            FROM,
            TO,
        ),
        lambda engine, tenant, a: reports.timeseries(
            engine, tenant, a["from"], a["to"], a["metric"]
        ),
        {"metric": "visits", "points": [{"day": "2025-03-01", "value": 4}]},
    ),
    ReadEndpoint(
        "/api/v1/reports/top-pages",
        "Most viewed pages",
        "Pages (host and path, without the query string) by page views, with their visitors.",
        (FROM, TO, LIMIT, CURSOR),
        lambda engine, tenant, a: reports.top_pages(
            engine, tenant, a["from"], a["to"], a["limit"], a["cursor"]
        ),
        {
            "items": [{"host": "www.escola.edu.br", "path": "/", "pageviews": 90, "visitors": 70}],
            "next_cursor": None,
        },
        paginated=True,
    ),
    ReadEndpoint(
        "/api/v1/reports/events",
        "Events by type",
        "Events that happened in the range per type: how many, of how many contacts, and "
        "the channels they were credited to (the visit their session was in).",
        (FROM, TO),
        lambda engine, tenant, a: reports.events_report(engine, tenant, a["from"], a["to"]),
        {
            "items": [
                {
                    "type": {"id": 29, "codigo": "inscricao", "titulo": "Inscrição"},
                    "events": 7,
                    "contacts": 6,
                    "by_channel": [{"channel": "Mídia paga", "events": 4}],
                }
            ]
        },
    ),
    ReadEndpoint(
        "/api/v1/reports/completeness",
        "Hits stored, missing and refused per day",
        "Per day: hits stored; hits known missing (for each session and site, the highest "
        "sequence number the tracker sent minus the hits stored, on the day of its last "
        "hit); hits refused, by reason (on the UTC day they were refused).",
        (FROM, TO),
        lambda engine, tenant, a: reports.completeness(engine, tenant, a["from"], a["to"]),
        {
            "totals": {"stored": 410, "missing": 3, "dropped": 12},
            "days": [{"day": "2025-03-01", "stored": 14, "missing": 1, "dropped": 2, "drops": {}}],
        },
    ),
)


def _handler(endpoint: ReadEndpoint) -> Callable[[Request], Awaitable[Response]]:
    async def handle(request: Request) -> Response:
        engine = request.app.state.engine
        try:
            token = bearer_token(request)
            tenant = await run_in_threadpool(reports.reader_tenant, engine, token)
        except AuthFailed as refusal:
            return _unauthorized(request, refusal)
        args = parse_params(
            endpoint.params, request.query_params.multi_items(), request.path_params
        )
        page = await run_in_threadpool(
            after_catching_up, request.app.state.projector, endpoint.run, engine, tenant, args
        )
        dados = dict(page.dados)
        if endpoint.paginated:
            dados["next_cursor"] = encode_cursor(page.next) if page.next else None
        return success(dados)

    handle.__name__ = re.sub(r"\W+", "_", endpoint.path.strip("/"))
    return handle


def read_routes() -> list[Route]:
    return [Route(e.path, _handler(e), methods=["GET"]) for e in READ_ENDPOINTS]

"""`/openapi.json` generated from the operations table and the msgspec payload types, and
`/docs`, a self-contained page that renders it for people (no assets fetched from anywhere).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import msgspec
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from pegada import __version__
from pegada.api.operations import OPERATIONS
from pegada.api.read import READ_ENDPOINTS
from pegada.api.replies import json_response

_REF = "#/components/schemas/{name}"
_TEMPLATES = Path(__file__).resolve().parent.parent / "web" / "templates"

_ERROR_SCHEMA = {
    "type": "object",
    "required": ["success", "error", "fields"],
    "properties": {
        "success": {"const": False},
        "error": {"type": "string", "description": "One sentence saying what is wrong."},
        "fields": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "The body fields at fault (path → problem).",
        },
    },
}
_ERRORS = {
    "400": "Not JSON, or not a JSON object we accept (NUL bytes, too deep).",
    "401": "origem + token missing or not a channel of this tenant.",
    "404": "Unknown tenant, contact or event type.",
    "409": "Conflicts with existing data (a code already in use).",
    "413": "Body larger than the limit.",
    "422": "A field has the wrong type, format or size; `fields` names it.",
}


_READ_ERRORS = {
    "401": "No `Authorization: Bearer <token>`, or not a channel token of any tenant.",
    "404": "No such contact in the token's tenant.",
    "422": "A query parameter is unknown, repeated, missing or malformed; `fields` names it.",
}


def _read_paths() -> dict[str, dict[str, Any]]:
    """The GET endpoints of the read API (`api/read.py`), with their query parameters."""
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in READ_ENDPOINTS:
        reply = endpoint.reply_example
        paths[endpoint.path] = {
            "get": {
                "tags": ["reports" if "/reports/" in endpoint.path else "contacts"],
                "summary": endpoint.summary,
                "description": endpoint.description,
                "operationId": "get_"
                + "_".join(
                    part.strip("{}") for part in endpoint.path.strip("/").split("/")
                ).replace("-", "_"),
                "security": [{"bearer": []}],
                "parameters": [
                    {
                        "name": p.name,
                        "in": p.location,
                        "required": p.required or p.location == "path",
                        "description": p.description,
                        "schema": p.schema(),
                    }
                    for p in endpoint.params
                ],
                "responses": {
                    "200": {
                        "description": "Done.",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {"success": {"const": True}, "dados": {}},
                                },
                                "example": {"success": True, "dados": reply},
                            }
                        },
                    },
                    **{
                        status: {
                            "description": text,
                            "content": {
                                "application/json": {"schema": {"$ref": _REF.format(name="Error")}}
                            },
                        }
                        for status, text in _READ_ERRORS.items()
                    },
                },
            }
        }
    return paths


@cache
def openapi_document() -> dict[str, Any]:
    bodies = list(dict.fromkeys(op.body for op in OPERATIONS))
    body_schemas, components = msgspec.json.schema_components(bodies, ref_template=_REF)
    schema_of = dict(zip(bodies, body_schemas, strict=True))
    components["Error"] = _ERROR_SCHEMA
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        for method in op.methods:
            paths.setdefault(op.path, {})[method.lower()] = {
                "tags": [op.tag],
                "summary": op.summary,
                "description": op.description,
                "operationId": f"{method.lower()}_{op.path.strip('/').replace('/', '_')}",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": schema_of[op.body]},
                        "text/plain": {"schema": schema_of[op.body]},
                    },
                },
                "responses": {
                    "200": {
                        "description": "Done.",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {"success": {"const": True}, "dados": {}},
                                },
                                "example": {"success": True, "dados": op.reply_example},
                            }
                        },
                    },
                    **{
                        status: {
                            "description": text,
                            "content": {
                                "application/json": {"schema": {"$ref": _REF.format(name="Error")}}
                            },
                        }
                        for status, text in _ERRORS.items()
                    },
                },
            }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Pegada API",
            "version": __version__,
            "description": "Page tracking and lead identification, compatible with the "
            "RBTracking / Rubeus page-monitoring API. Every reply is "
            '`{"success": true, "dados": …}` or a 4xx `{"success": false, "error", "fields"}`. '
            "The read API (`GET /api/v1/…`) takes a channel token as "
            "`Authorization: Bearer <token>`; its lists are paginated by `cursor` "
            "(a reply's `next_cursor`, null on the last page).",
        },
        "tags": [
            {"name": "tracking", "description": "Calls from a site's backend (and the tracker)."},
            {"name": "crm", "description": "The Rubeus CRM subset."},
            {"name": "contacts", "description": "Read API: contacts and their timelines."},
            {"name": "reports", "description": "Read API: reports over a range of days."},
        ],
        "paths": {**paths, **_read_paths()},
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A channel token of the tenant (it names the tenant).",
                }
            },
        },
    }


def _parameters(operation: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows for the docs table of a GET endpoint: its path and query parameters."""
    rows = []
    for p in operation["parameters"]:
        default = p["schema"].get("default")
        note = f" Default: {default}." if default is not None else ""
        rows.append(
            {
                "name": p["name"] if p["in"] == "query" else f"{{{p['name']}}} (path)",
                "type": "date (YYYY-MM-DD)"
                if p["schema"].get("format") == "date"
                else _type_label(p["schema"]),
                "required": p["required"],
                "description": p["description"] + note,
            }
        )
    return rows


def _operation_fields(operation: dict[str, Any], components: dict[str, Any]) -> list[Any]:
    if "requestBody" not in operation:
        return _parameters(operation)
    return _fields(operation["requestBody"]["content"]["application/json"]["schema"], components)


def _fields(schema: dict[str, Any], components: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows for the docs table: one per property of an object schema."""
    if "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    required = set(schema.get("required", []))
    return [
        {
            "name": name,
            "type": _type_label(prop),
            "required": name in required,
            "description": prop.get("description", ""),
        }
        for name, prop in schema.get("properties", {}).items()
    ]


def _type_label(prop: dict[str, Any]) -> str:
    if "$ref" in prop:
        return str(prop["$ref"].rsplit("/", 1)[-1])
    if "anyOf" in prop:
        return " | ".join(_type_label(p) for p in prop["anyOf"])
    if "enum" in prop:
        return " | ".join(repr(v) for v in prop["enum"])
    if prop.get("type") == "array":
        return f"array of {_type_label(prop.get('items', {}))}"
    label = str(prop.get("type", "any"))
    if "maxLength" in prop:
        label += f" (≤ {prop['maxLength']})"
    return label


@cache
def _docs_html() -> str:
    document = openapi_document()
    components = document["components"]["schemas"]
    operations = [
        {
            "methods": [m.upper() for m in by_method],
            "path": path,
            "op": next(iter(by_method.values())),
            "fields": _operation_fields(next(iter(by_method.values())), components),
        }
        for path, by_method in document["paths"].items()
    ]
    schemas = {
        name: _fields(schema, components)
        for name, schema in components.items()
        if schema.get("type") == "object" and name != "Error"
    }
    env = Environment(loader=FileSystemLoader(_TEMPLATES), autoescape=select_autoescape())
    return env.get_template("docs.html").render(
        info=document["info"], operations=operations, schemas=schemas, errors=_ERRORS
    )


async def openapi_json(_request: Request) -> Response:
    return json_response(openapi_document())


async def docs(_request: Request) -> Response:
    return HTMLResponse(_docs_html())


def docs_routes() -> list[Route]:
    return [Route("/openapi.json", openapi_json), Route("/docs", docs)]

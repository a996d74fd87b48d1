"""`/openapi.json` and `/docs` describe every operation of the API table, from the code."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from pegada.api.operations import OPERATIONS
from pegada.app import create_app
from pegada.settings import Settings

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The docs need no database rows; a SQLite file that is never written is enough."""
    path = tmp_path_factory.mktemp("openapi") / "pegada.db"
    with TestClient(create_app(Settings(database_url=f"sqlite:///{path}"))) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def document(client: TestClient) -> dict[str, Any]:
    reply = client.get("/openapi.json")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("application/json")
    parsed: dict[str, Any] = json.loads(reply.text)
    return parsed


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        schema = document["components"]["schemas"][name]
    return schema


def test_document_header(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"] and document["info"]["version"]
    assert set(document) >= {"openapi", "info", "paths", "components"}


@pytest.mark.parametrize(
    ("path", "method"),
    [(op.path, method) for op in OPERATIONS for method in op.methods],
    ids=lambda value: str(value),
)
def test_every_operation_is_described(document: dict[str, Any], path: str, method: str) -> None:
    operation = document["paths"][path][method.lower()]
    assert operation["summary"] and operation["description"]
    body = operation["requestBody"]
    assert body["required"] is True
    schema = body["content"]["application/json"]["schema"]
    resolved = _resolve(document, schema)
    assert resolved["type"] == "object"
    assert resolved["properties"], f"{path}: the body schema lists no fields"
    # The tracker posts text/plain JSON (no CORS preflight): documented as the same body.
    assert body["content"]["text/plain"]["schema"] == schema
    responses = operation["responses"]
    assert "200" in responses
    assert {"401", "422"} <= set(responses)


def test_documented_methods_are_the_served_ones(document: dict[str, Any]) -> None:
    served = {op.path: {m.lower() for m in op.methods} for op in OPERATIONS}
    for path, served_methods in served.items():
        documented = set(document["paths"][path]) & HTTP_METHODS
        assert documented == served_methods, path


def test_every_api_route_of_the_app_is_documented(
    client: TestClient, document: dict[str, Any]
) -> None:
    """Routes built from the table, as the app really serves them."""
    app_routes = {
        route.path: route.methods or set()
        for route in client.app.routes  # type: ignore[attr-defined]
        if isinstance(route, Route)
    }
    for op in OPERATIONS:
        assert set(op.methods) <= app_routes[op.path], op.path
        assert op.path in document["paths"]


def test_operation_ids_are_unique(document: dict[str, Any]) -> None:
    ids = [
        operation["operationId"]
        for methods in document["paths"].values()
        for name, operation in methods.items()
        if name in HTTP_METHODS
    ]
    assert len(ids) == len(set(ids))


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    refs = set(_refs(document))
    assert refs, "expected component references"
    for ref in refs:
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.removeprefix("#/components/schemas/") in schemas, ref


def test_docs_page_names_every_path_and_needs_nothing_from_outside(client: TestClient) -> None:
    reply = client.get("/docs")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/html")
    page = unescape(reply.text)
    for op in OPERATIONS:
        assert op.path in page, op.path
        assert op.summary in page, op.summary
        for method in op.methods:
            assert re.search(rf">{method}<", page), (op.path, method)
    assert "/openapi.json" in page
    # Self-contained: no script, stylesheet or font fetched from elsewhere.
    assert not re.search(r"<script[^>]*\bsrc=", page, re.IGNORECASE)
    assert not re.search(r"<link[^>]*\bhref=[\"']?(https?:)?//", page, re.IGNORECASE)
    assert "@import" not in page


def test_docs_and_schema_need_no_database(tmp_path: Path) -> None:
    """They are served even before any migration (a new install's first look)."""
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'never.db'}"))
    with TestClient(app) as fresh:
        assert fresh.get("/openapi.json").status_code == 200
        assert fresh.get("/docs").status_code == 200

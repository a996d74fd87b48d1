"""Reading a JSON body safely and turning it into a typed payload.

Order matters: size first (never buffer more than the limit), then JSON syntax, then a walk
that refuses NUL bytes and deep nesting (PostgreSQL cannot store NUL in text, and deep
nesting is a denial-of-service shape), then msgspec's typed conversion, whose error names
the field, then a check that no whole number in the result (given as a number or as digits
in a string) is beyond 64 bits, which neither database can store or compare. Every failure
is a `PegadaError` with the field named.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec
from starlette.requests import ClientDisconnect, Request
from starlette.types import Receive

from pegada.errors import BodyTooLarge, InvalidInput, MalformedBody

T = TypeVar("T")

#: msgspec's "<message> - at `$.a.b`", or "<message> - at `key` in `$.a`" for an object key.
_PATH_RE = re.compile(
    r"^(?P<message>.*?)(?: - at (?P<key>`key` in )?`\$(?P<path>[^`]*)`)?$", re.DOTALL
)
_MISSING_RE = re.compile(r"^Object missing required field `(?P<name>[^`]+)`$")
#: The whole numbers both databases hold (signed 64 bits); msgspec converts any size.
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1


async def read_body(request: Request, limit: int) -> bytes:
    return await receive_body(request.receive, request.headers.get("content-length"), limit)


async def receive_body(receive: Receive, declared: str | bytes | None, limit: int) -> bytes:
    """The whole body from the ASGI `receive`, never more than `limit` bytes buffered
    (api/hits.py reads it without a Request). A client gone mid-body: ClientDisconnect."""
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _too_large(limit: int) -> BodyTooLarge:
    return BodyTooLarge(f"body: larger than the limit of {limit} bytes", {"body": "too large"})


def parse_json(raw: bytes, max_depth: int) -> dict[str, Any]:
    """Untyped JSON object, checked for NUL bytes and nesting depth."""
    if not raw.strip():
        raise MalformedBody("body: empty; a JSON object is required", {"body": "empty"})
    try:
        document = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise MalformedBody(f"body: not valid JSON ({exc})", {"body": "not valid JSON"}) from exc
    if not isinstance(document, dict):
        raise InvalidInput("body: must be a JSON object", {"body": "must be a JSON object"})
    _check_tree(document, "", 1, max_depth)
    return document


def _check_tree(node: Any, path: str, depth: int, max_depth: int) -> None:
    if isinstance(node, dict):
        if depth > max_depth:
            _deep(path, max_depth)
        for key, value in node.items():
            child = f"{path}.{key}" if path else str(key)
            if "\x00" in key:
                _nul(child)
            _check_tree(value, child, depth + 1, max_depth)
    elif isinstance(node, list):
        if depth > max_depth:
            _deep(path, max_depth)
        for index, value in enumerate(node):
            _check_tree(value, f"{path}[{index}]", depth + 1, max_depth)
    elif isinstance(node, str) and "\x00" in node:
        _nul(path)


def _deep(path: str, max_depth: int) -> None:
    message = f"nested deeper than {max_depth} levels"
    raise InvalidInput(f"{path}: {message}", {path: message})


def _nul(path: str) -> None:
    message = "contains a NUL character"
    raise InvalidInput(f"{path}: {message}", {path: message})


def to_payload(document: dict[str, Any], shape: type[T]) -> T:
    """Convert to the typed payload; the error names the offending field.

    Blank strings count as "not given" (forms send unanswered fields as ""), so they are
    left out before typing: `dataNascimento: ""` is no date, not a wrong one. The untyped
    document, blanks included, is what the audit trail keeps.
    """
    try:
        payload = msgspec.convert(_without_blanks(document), shape, strict=False)
    except msgspec.ValidationError as exc:
        field, message = explain(str(exc))
        raise InvalidInput(f"{field}: {message}", {field: message}) from exc
    _check_integers(msgspec.to_builtins(payload), "")
    return payload


def _check_integers(node: Any, path: str) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            _check_integers(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _check_integers(value, f"{path}[{index}]")
    elif isinstance(node, int) and not isinstance(node, bool) and not _INT_MIN <= node <= _INT_MAX:
        message = "number too large (beyond 64 bits)"
        raise InvalidInput(f"{path}: {message}", {path: message})


def _without_blanks(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: _without_blanks(value)
            for key, value in node.items()
            if not (isinstance(value, str) and not value.strip())
        }
    if isinstance(node, list):
        return [_without_blanks(value) for value in node]
    return node


def explain(error: str) -> tuple[str, str]:
    """(field path, message) from a msgspec validation error."""
    match = _PATH_RE.match(error)
    assert match is not None  # the pattern accepts every string
    message = match.group("message")
    if match.group("key"):
        message = f"a key: {message}"
    path = (match.group("path") or "").lstrip(".")
    missing = _MISSING_RE.match(message)
    if missing:
        name = missing.group("name")
        return (f"{path}.{name}" if path else name), "is required"
    return (path or "body"), message


async def read_payload(
    request: Request, shape: type[T], limit: int, max_depth: int
) -> tuple[T, dict[str, Any]]:
    """The typed payload and the untyped document it came from (kept for the audit trail)."""
    document = parse_json(await read_body(request, limit), max_depth)
    return to_payload(document, shape), document

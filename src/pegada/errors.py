"""Errors the domain raises and the API turns into 4xx JSON replies.

Domain code raises these (never HTTP-specific exceptions) so it can be tested without HTTP;
`api/errors.py` maps them to status codes and the `{"success": false, …}` body.
"""

from __future__ import annotations


class PegadaError(Exception):
    """A refusal with one clear sentence and, where it is about input, the fields at fault."""

    status = 400

    def __init__(self, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class InvalidInput(PegadaError):
    """The body is not what the endpoint takes (type, format, size, missing field)."""

    status = 422


class MalformedBody(PegadaError):
    """The body is not JSON, or not JSON we are willing to read (too deep, NUL bytes)."""

    status = 400


class BodyTooLarge(PegadaError):
    status = 413


class AuthFailed(PegadaError):
    """`origem` + `token` are missing or are not a channel of this tenant."""

    status = 401


class Forbidden(PegadaError):
    """Authenticated enough to be told no: an origin the tenant has not allowed."""

    status = 403


class NotFound(PegadaError):
    """A referenced thing (tenant, contact, event type) does not exist in this tenant."""

    status = 404


class Conflict(PegadaError):
    status = 409


def field_error(field: str, message: str) -> InvalidInput:
    """The common case: one named field is wrong."""
    return InvalidInput(f"{field}: {message}", {field: message})

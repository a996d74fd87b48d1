"""JSON replies, encoded with msgspec (fast, and the same encoder everywhere)."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.responses import Response

_encoder = msgspec.json.Encoder()


def json_response(content: Any, status: int = 200) -> Response:
    return Response(_encoder.encode(content), status, media_type="application/json")


def success(dados: Any) -> Response:
    return json_response({"success": True, "dados": dados})

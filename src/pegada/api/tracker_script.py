"""`GET /libs/RBTracking.min.js?rbclicod=HOSTCLIENT[&mm=1]`: the browser library, with its
configuration (tenant code, manual mode, collector URL, privacy setting) written in.

Baking the configuration in lets an unknown `rbclicod` yield a script that records nothing
(`getHostClient()` returns ''), and lets the tenant's Do-Not-Track choice reach the browser
without another request. Responses carry an ETag and a short max-age.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from functools import cache, lru_cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

from pegada.api.collector import tracked_tenant
from pegada.errors import NotFound

SCRIPT_PATH = Path(__file__).resolve().parent.parent / "tracker" / "RBTracking.min.js"
PLACEHOLDER = "__RBT_CONFIG__"
_HOST_RE = re.compile(r"^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$")
_REFUSED = re.compile(r"q=0(\.0{0,3})?")  # `gzip;q=0` in Accept-Encoding: not acceptable


@cache
def minified_source() -> str:
    return SCRIPT_PATH.read_text(encoding="utf-8")


@lru_cache(maxsize=256)
def _gzipped(body: str) -> bytes:
    """The compressed script (the size budget is for what the browser downloads)."""
    return gzip.compress(body.encode(), compresslevel=9, mtime=0)


def _accepts_gzip(request: Request) -> bool:
    for coding in request.headers.get("accept-encoding", "").lower().split(","):
        name, *params = (part.strip() for part in coding.split(";"))
        if name == "gzip":
            return not any(_REFUSED.fullmatch(param.replace(" ", "")) for param in params)
    return False


def _base_url(request: Request) -> str:
    configured = request.app.state.settings.public_url
    if configured:
        return str(configured).rstrip("/")
    host = request.headers.get("host", "")
    if not _HOST_RE.match(host):
        host = (
            f"{request.url.hostname}:{request.url.port}"
            if request.url.port
            else str(request.url.hostname)
        )
    return f"{request.url.scheme}://{host}"


async def tracker_script(request: Request) -> Response:
    code = request.query_params.get("rbclicod", "")
    honor_dnt = True
    try:
        tenant = await tracked_tenant(request, code) if code else None
    except NotFound:
        tenant = None
    if tenant is not None:
        honor_dnt = tenant.honor_dnt
    # Defaults are left out to keep the download small: the tracker reads a missing "m" as
    # automatic mode and a missing "d" as "honour Do Not Track".
    config: dict[str, object] = {"h": tenant.host_client if tenant else "", "e": _base_url(request)}
    if request.query_params.get("mm") == "1":
        config["m"] = 1
    if not honor_dnt:
        config["d"] = 0
    body = minified_source().replace(PLACEHOLDER, json.dumps(config, separators=(",", ":")), 1)
    compress = _accepts_gzip(request)
    # One ETag per representation (RFC 9110): the gzipped bytes are not the plain ones.
    digest = hashlib.sha256(body.encode()).hexdigest()[:32]
    etag = f'"{digest}-gz"' if compress else f'"{digest}"'
    headers = {
        "ETag": etag,
        "Cache-Control": "public, max-age=300",
        "Vary": "Accept-Encoding",
        "Access-Control-Allow-Origin": "*",
        "X-Content-Type-Options": "nosniff",
    }
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    if compress:
        headers["Content-Encoding"] = "gzip"
        return Response(
            _gzipped(body), media_type="application/javascript; charset=utf-8", headers=headers
        )
    return Response(body, media_type="application/javascript; charset=utf-8", headers=headers)

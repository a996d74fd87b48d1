"""The collector's wire format (what RBTracking sends to `POST /api/collect`).

Short keys keep beacons small; the tracker README documents them. Decoded straight from
bytes with msgspec (no intermediate dicts) because this is the hot path.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

from pegada.payloads.common import ExternalId

Url = Annotated[str, Meta(max_length=4096)]


class Hit(msgspec.Struct, kw_only=True):
    """One page access."""

    q: Annotated[int, Meta(ge=1, le=10_000_000, description="Sequence number in the session")]
    u: Annotated[str, Meta(min_length=1, max_length=4096, description="Page URL")]
    ts: Annotated[int, Meta(ge=0, description="Client time of the access, Unix ms")]
    t: Annotated[str, Meta(max_length=1024, description="Page title")] = ""
    r: Annotated[str, Meta(max_length=4096, description="Referrer URL")] = ""
    sw: Annotated[int, Meta(ge=0, le=100_000)] | None = None
    sh: Annotated[int, Meta(ge=0, le=100_000)] | None = None
    l: Annotated[str, Meta(max_length=35, description="Browser language")] = ""  # noqa: E741
    p: (
        Annotated[int, Meta(ge=0, le=2**53 - 1, description="Ms spent on the previous page")] | None
    ) = None
    lp: dict[Annotated[str, Meta(max_length=32)], Annotated[str, Meta(max_length=512)]] | None = (
        None
    )


class CollectBody(msgspec.Struct, kw_only=True):
    """`POST /api/collect`: one session's page accesses (several when a queue is flushed)."""

    h: Annotated[str, Meta(max_length=20, description="hostClient")]
    s: ExternalId
    hits: Annotated[list[Hit], Meta(min_length=1, max_length=100)]


class GetDataBody(msgspec.Struct, kw_only=True):
    """`POST /api/getData`: what this session itself sent with sendData."""

    h: Annotated[str, Meta(max_length=20, description="hostClient")]
    s: ExternalId | None = None

"""Field types shared by the contact, event and tracking bodies."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

Text255 = Annotated[str, Meta(max_length=255)]
Text100 = Annotated[str, Meta(max_length=100)]
Text45 = Annotated[str, Meta(max_length=45)]
#: HTML shown on a timeline; bounded so one event cannot fill the body limit alone.
Html = Annotated[str, Meta(max_length=20_000)]
#: External codes (codigo, codCurso, …) arrive as strings or numbers from PHP backends.
Code = Annotated[str, Meta(min_length=1, max_length=100)] | int
ExternalId = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=128,
        pattern=r"^[\x21-\x7e]+$",
        description="An identifier: 45 digits from RBTracking.idGenerator(), or any id "
        "of 1–128 visible ASCII characters the backend prefers (order number, UUID).",
    ),
]
HostClient = Annotated[
    str,
    Meta(
        pattern=r"^[A-Za-z0-9]{20}$",
        description="The tenant's public code (20 letters/digits).",
        examples=["aSLhOBjZV5wD7YEpppb3"],
    ),
]
Origem = Annotated[int, Meta(ge=1, le=2_147_483_647, description="The channel's id.")]
Token = Annotated[
    str,
    Meta(max_length=64, description="The channel's secret token (32 lowercase hex)."),
]
Scalar = str | int | float | bool | None
CustomFields = dict[
    Annotated[str, Meta(min_length=1, max_length=100)],
    Annotated[str, Meta(max_length=5_000)] | int | float | bool | None | list[Scalar],
]


class Credentials(msgspec.Struct, kw_only=True):
    """A channel's `origem` + `token`, carried in the body of server-to-server calls."""

    origem: Origem | None = None
    token: Token | None = None

    def credentials_given(self) -> bool:
        return self.origem is not None or self.token is not None


def code_text(value: str | int | None) -> str | None:
    """External codes as text, whichever JSON type they came in."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None

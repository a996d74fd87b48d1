"""Accent- and case-insensitive search text, as the Rubeus contact search behaves:
"joao" finds "João", "SILVA" finds "Silva", and CPF/phone digits match however they were
typed. Stored per contact so a search is one indexed-column scan, not a function per row."""

from __future__ import annotations

import unicodedata
from typing import Any


def fold(text: str) -> str:
    """Lower case without accents ("João Ávila" → "joao avila")."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def search_text(profile: dict[str, Any], phone: str | None, limit: int = 1024) -> str:
    parts = [
        profile.get("nome"),
        profile.get("nomeSocial"),
        profile.get("emailPrincipal"),
        *profile.get("email", []),
        profile.get("cpf"),
        phone,
        profile.get("codigo"),
    ]
    return fold(" | ".join(str(p) for p in parts if p))[:limit]


def query_terms(query: str) -> list[str]:
    """The words of a search box, folded; digits-only variants for CPF/phone queries."""
    terms = []
    for word in fold(query).split():
        digits = "".join(ch for ch in word if ch.isdigit())
        terms.append(
            digits if digits and len(digits) >= len(word) - 4 and len(digits) > 3 else word
        )
    return [t for t in terms if t]

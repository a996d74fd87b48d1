"""A contact's profile: normalising incoming CRM fields and folding them into what is stored.

Pure functions (no database), so the rules are unit-tested directly:
- empty or null values never erase stored data (a form that does not ask for a field must
  not wipe it);
- a new principal e-mail or phone does not lose the old one: it moves to the secondary list;
- tags are added, `tagsRemovidas` removed; custom fields and consents merge by key;
- two contacts found to be one person fold into one profile (`fold_profiles`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import msgspec

from pegada.errors import InvalidInput
from pegada.identity.keys import normalize_cpf, normalize_email, normalize_phone
from pegada.identity.search import search_text
from pegada.payloads.common import code_text
from pegada.payloads.contact import ContactFields

#: Fields that are not profile data: identity handled apart, credentials, nested event.
_NOT_PROFILE = {
    "id",
    "codigo",
    "emailPrincipal",
    "telefonePrincipal",
    "email",
    "telefone",
    "cpf",
    "tags",
    "tagsRemovidas",
    "camposPersonalizados",
    "assinaturas",
    "estadoCidade",
    "evento",
    "origem",
    "token",
    "hostClient",
    "session_id",
    "substitute_id",
}

#: Identity keys in the order contacts are matched by (SPEC §5), then the tracker's id.
MATCH_ORDER = ("codigo", "email", "cpf", "phone", "substitute")


@dataclass
class ContactInput:
    """Incoming contact data, normalised; only what was actually given."""

    codigo: str | None = None
    email: str | None = None
    cpf: str | None = None
    phone: str | None = None
    phone_display: str | None = None
    secondary_emails: list[str] = field(default_factory=list)
    secondary_phones: list[str] = field(default_factory=list)
    scalars: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    tags_removed: list[str] = field(default_factory=list)
    custom: dict[str, Any] = field(default_factory=dict)
    consents: list[dict[str, Any]] = field(default_factory=list)
    place: dict[str, Any] = field(default_factory=dict)

    def match_keys(self, substitute_id: str | None = None) -> list[tuple[str, str]]:
        values = {
            "codigo": self.codigo,
            "email": self.email,
            "cpf": self.cpf,
            "phone": self.phone,
            "substitute": substitute_id,
        }
        return [(kind, values[kind]) for kind in MATCH_ORDER if values[kind]]  # type: ignore[misc]

    def has_reachable_key(self) -> bool:
        return bool(self.email or self.phone)


def _present(value: Any) -> bool:
    if isinstance(value, str):
        return bool(value.strip())  # "   " from a form is as empty as ""
    return value is not None and value != [] and value != {}


def _cpf_text(value: object) -> str:
    """A CPF sent as a JSON number has lost its leading zeros; they are put back."""
    return str(value).zfill(11) if isinstance(value, int) else str(value)


def _phone_key(number: str) -> str:
    """The number a displayed phone stands for, to compare '(11) 98765-4321' with
    '+55 11 98765-4321'; text that does not parse is compared as it is."""
    try:
        return normalize_phone("telefone", number)
    except InvalidInput:
        return number


def normalize_contact(fields: ContactFields) -> ContactInput:
    """Validate and normalise identity fields; raises InvalidInput naming the field."""
    data = msgspec.structs.asdict(fields)
    incoming = ContactInput()
    incoming.codigo = code_text(fields.codigo)
    if _present(fields.emailPrincipal):
        incoming.email = normalize_email("emailPrincipal", str(fields.emailPrincipal))
    if _present(fields.cpf):
        incoming.cpf = normalize_cpf("cpf", _cpf_text(fields.cpf))
    if _present(fields.telefonePrincipal):
        incoming.phone_display = str(fields.telefonePrincipal).strip()
        incoming.phone = normalize_phone("telefonePrincipal", incoming.phone_display)
    for index, address in enumerate(fields.email or []):
        if _present(address.strip()):
            incoming.secondary_emails.append(normalize_email(f"email[{index}]", address))
    for index, number in enumerate(fields.telefone or []):
        text = str(number).strip()
        if text:
            normalize_phone(f"telefone[{index}]", text)
            incoming.secondary_phones.append(text)
    incoming.tags = [tag.strip() for tag in fields.tags or [] if tag.strip()]
    incoming.tags_removed = [tag.strip() for tag in fields.tagsRemovidas or [] if tag.strip()]
    incoming.custom = dict(fields.camposPersonalizados or {})
    incoming.consents = [
        {"id": code_text(item.id), "status": item.status} for item in fields.assinaturas or []
    ]
    if fields.estadoCidade is not None:
        incoming.place = {
            k: v for k, v in msgspec.structs.asdict(fields.estadoCidade).items() if _present(v)
        }
        if "estado" in incoming.place:
            incoming.place["estado"] = incoming.place["estado"].upper()
    for name, value in data.items():
        if name in _NOT_PROFILE or not _present(value):
            continue
        incoming.scalars[name] = value.isoformat() if hasattr(value, "isoformat") else value
        if isinstance(incoming.scalars[name], str):
            incoming.scalars[name] = incoming.scalars[name].strip()
    return incoming


#: The profile field behind each identity key.
IDENTITY_FIELDS = {
    "codigo": "codigo",
    "email": "emailPrincipal",
    "cpf": "cpf",
    "phone": "telefonePrincipal",
}


def given_fields(incoming: ContactInput) -> set[str]:
    """Names of the profile fields this input sets (custom fields and consents per key)."""
    names = set(incoming.scalars)
    names.update(field for key, field in IDENTITY_FIELDS.items() if getattr(incoming, key))
    names.update(f"camposPersonalizados.{k}" for k, v in incoming.custom.items() if _present(v))
    names.update(f"assinaturas.{c['id']}" for c in incoming.consents)
    if incoming.place:
        names.add("estadoCidade")
    return names


def without_protected(incoming: ContactInput, protected: set[str]) -> tuple[ContactInput, set[str]]:
    """What a browser form may still change, and the identity keys it may not: fields an
    authenticated channel set stay as that channel left them. Additive data (tags, secondary
    e-mails and phones, new custom fields) still goes in."""
    held = {key for key, field in IDENTITY_FIELDS.items() if field in protected}
    restricted = replace(
        incoming,
        scalars={k: v for k, v in incoming.scalars.items() if k not in protected},
        custom={
            k: v for k, v in incoming.custom.items() if f"camposPersonalizados.{k}" not in protected
        },
        consents=[c for c in incoming.consents if f"assinaturas.{c['id']}" not in protected],
        place={} if "estadoCidade" in protected else incoming.place,
    )
    return restricted, held


def _append_unique(items: list[Any], new: list[Any], exclude: Any = None) -> list[Any]:
    result = list(items)
    for item in new:
        if item not in result and item != exclude:
            result.append(item)
    return result


def merge_profile(
    stored: dict[str, Any], incoming: ContactInput, *, keep_principal: set[str] | None = None
) -> dict[str, Any]:
    """The stored profile updated with the incoming data (a new dict).

    `keep_principal` names identity fields ("email", "phone", "cpf", "codigo") whose
    incoming value must not replace the stored one (it belongs to another contact).
    """
    keep = keep_principal or set()
    profile = dict(stored)
    profile.update(incoming.scalars)
    if incoming.codigo and "codigo" not in keep:
        profile["codigo"] = incoming.codigo
    if incoming.cpf and "cpf" not in keep:
        profile["cpf"] = incoming.cpf

    emails = list(profile.get("email", []))
    if incoming.email and "email" not in keep:
        old = profile.get("emailPrincipal")
        if old and old != incoming.email:
            emails = _append_unique(emails, [old])
        profile["emailPrincipal"] = incoming.email
    profile["email"] = _append_unique(emails, incoming.secondary_emails)
    profile["email"] = [e for e in profile["email"] if e != profile.get("emailPrincipal")]

    phones = list(profile.get("telefone", []))
    if incoming.phone and "phone" not in keep:
        old_phone = profile.get("telefonePrincipal")
        if old_phone and _phone_key(old_phone) != incoming.phone:
            phones = _append_unique(phones, [old_phone])
        profile["telefonePrincipal"] = incoming.phone_display
    # One number, however it was written, is listed once and never beside the principal.
    seen = {_phone_key(profile["telefonePrincipal"])} if profile.get("telefonePrincipal") else set()
    profile["telefone"] = []
    for number in phones + incoming.secondary_phones:
        if _phone_key(number) not in seen:
            seen.add(_phone_key(number))
            profile["telefone"].append(number)

    tags = _append_unique(list(profile.get("tags", [])), incoming.tags)
    profile["tags"] = [t for t in tags if t not in set(incoming.tags_removed)]
    custom = dict(profile.get("camposPersonalizados", {}))
    custom.update(
        {k: v for k, v in incoming.custom.items() if _present(v) or not _present(custom.get(k))}
    )
    profile["camposPersonalizados"] = custom
    if incoming.place:
        profile["estadoCidade"] = {**profile.get("estadoCidade", {}), **incoming.place}
    consents = {c["id"]: c for c in profile.get("assinaturas", [])}
    consents.update({c["id"]: c for c in incoming.consents})
    profile["assinaturas"] = list(consents.values())
    return profile


#: Profile entries that are combined rather than chosen when two profiles fold into one.
_COMBINED = {"email", "telefone", "tags", "camposPersonalizados", "estadoCidade", "assinaturas"}


def fold_profiles(survivor: dict[str, Any], merged: dict[str, Any]) -> dict[str, Any]:
    """One person's profile from two (a merge): the survivor's non-empty values win and the
    merged contact's fill its blanks; the merged principal e-mail / phone that lost become
    secondary ones; e-mail and phone lists, tags, custom fields, consents and the place are
    unioned (the survivor's value first where both have one). A new dict."""
    profile = dict(survivor)
    for name, value in merged.items():
        if name not in _COMBINED and not _present(profile.get(name)) and _present(value):
            profile[name] = value

    principal = profile.get("emailPrincipal")
    addresses = [
        *survivor.get("email", []),
        survivor.get("emailPrincipal"),
        merged.get("emailPrincipal"),
        *merged.get("email", []),
    ]
    profile["email"] = _append_unique([], [a for a in addresses if a and a != principal])

    principal_phone = profile.get("telefonePrincipal")
    seen = {_phone_key(principal_phone)} if principal_phone else set()
    phones: list[str] = []
    for number in (
        *survivor.get("telefone", []),
        survivor.get("telefonePrincipal"),
        merged.get("telefonePrincipal"),
        *merged.get("telefone", []),
    ):
        if number and _phone_key(number) not in seen:
            seen.add(_phone_key(number))
            phones.append(number)
    profile["telefone"] = phones

    profile["tags"] = _append_unique(list(survivor.get("tags", [])), merged.get("tags", []))
    profile["camposPersonalizados"] = _fill(
        survivor.get("camposPersonalizados", {}), merged.get("camposPersonalizados", {})
    )
    place = _fill(survivor.get("estadoCidade", {}), merged.get("estadoCidade", {}))
    if place:
        profile["estadoCidade"] = place
    consents = {c["id"]: c for c in merged.get("assinaturas", [])}
    consents.update({c["id"]: c for c in survivor.get("assinaturas", [])})
    order = [c["id"] for c in survivor.get("assinaturas", [])]
    order += [key for key in consents if key not in order]
    profile["assinaturas"] = [consents[key] for key in order]
    return profile


def _fill(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """`first` with its blank or missing entries taken from `second`."""
    result = dict(first)
    for key, value in second.items():
        if not _present(result.get(key)) and (_present(value) or key not in result):
            result[key] = value
    return result


def profile_columns(profile: dict[str, Any], phone: str | None) -> dict[str, Any]:
    """The searchable identity columns of a contact row, mirrored from its profile."""
    return {
        "codigo": profile.get("codigo"),
        "nome": profile.get("nome"),
        "email": profile.get("emailPrincipal"),
        "cpf": profile.get("cpf"),
        "phone": phone,
        "fields": profile,
        "search_text": search_text(profile, phone),
    }

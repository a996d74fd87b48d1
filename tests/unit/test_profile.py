"""The pure profile rules: normalising incoming CRM fields and folding them into a stored
profile (no database)."""

from __future__ import annotations

import copy
from typing import Any

import msgspec
import pytest

from pegada.errors import InvalidInput
from pegada.identity.profile import ContactInput, merge_profile, normalize_contact
from pegada.payloads.contact import ContactFields


def fields(**values: Any) -> ContactFields:
    """The payload as the API builds it from a JSON body."""
    return msgspec.convert(values, ContactFields, strict=False)


def incoming(**values: Any) -> ContactInput:
    return normalize_contact(fields(**values))


def profile_of(*submissions: dict[str, Any]) -> dict[str, Any]:
    """The profile after these submissions, in order, starting from nothing."""
    profile: dict[str, Any] = {}
    for submission in submissions:
        profile = merge_profile(profile, incoming(**submission))
    return profile


# --- normalize_contact ------------------------------------------------------------------------


def test_identity_keys_are_normalised() -> None:
    got = incoming(
        codigo=155,
        emailPrincipal=" Ana@Example.COM ",
        cpf="529.982.247-25",
        telefonePrincipal=" (11) 98765-4321 ",
    )
    assert got.codigo == "155"
    assert got.email == "ana@example.com"
    assert got.cpf == "52998224725"
    assert got.phone == "5511987654321"
    assert got.phone_display == "(11) 98765-4321"


def test_match_keys_follow_spec_order() -> None:
    got = incoming(
        telefonePrincipal="11987654321",
        cpf="52998224725",
        emailPrincipal="ana@example.com",
        codigo="C1",
    )
    assert got.match_keys("S1") == [
        ("codigo", "C1"),
        ("email", "ana@example.com"),
        ("cpf", "52998224725"),
        ("phone", "5511987654321"),
        ("substitute", "S1"),
    ]
    assert incoming(cpf="52998224725").match_keys() == [("cpf", "52998224725")]
    assert incoming(nome="Ana").match_keys() == []
    assert incoming(nome="Ana").match_keys("S1") == [("substitute", "S1")]


def test_reachable_key_is_an_email_or_a_phone() -> None:
    assert incoming(emailPrincipal="ana@example.com").has_reachable_key()
    assert incoming(telefonePrincipal="11987654321").has_reachable_key()
    assert not incoming(codigo="C1", cpf="52998224725", nome="Ana").has_reachable_key()
    assert not incoming(emailPrincipal="", telefonePrincipal="  ").has_reachable_key()


def test_blank_and_null_values_are_not_given() -> None:
    got = incoming(
        nome="   ",
        nomeSocial="",
        profissao=None,
        emailPrincipal=" ",
        cpf="",
        telefonePrincipal="",
        email=["", "  "],
        telefone=[" "],
        tags=["", " "],
        estadoCidade={"cidade": "", "estado": None},
        codigo="  ",
    )
    assert got == ContactInput()


def test_cpf_given_as_a_json_number_keeps_its_leading_zero() -> None:
    assert incoming(cpf=1234567890).cpf == "01234567890"
    assert incoming(cpf=52998224725).cpf == "52998224725"


def test_secondary_lists_tags_place_consents() -> None:
    got = incoming(
        email=[" Ana.Trabalho@Example.com", ""],
        telefone=["(11) 3333-4444", 11987654321],
        tags=[" lead ", "enem"],
        tagsRemovidas=["velha "],
        estadoCidade={"cidade": "Curitiba", "estado": "pr"},
        assinaturas=[{"id": 5, "status": 1}, {"id": "news", "status": 2}],
        camposPersonalizados={"Curso": " Direito ", "turnos": ["manhã", None]},
    )
    assert got.secondary_emails == ["ana.trabalho@example.com"]
    assert got.secondary_phones == ["(11) 3333-4444", "11987654321"]
    assert got.tags == ["lead", "enem"]
    assert got.tags_removed == ["velha"]
    assert got.place == {"cidade": "Curitiba", "estado": "PR"}
    assert got.consents == [{"id": "5", "status": 1}, {"id": "news", "status": 2}]
    assert got.custom == {"Curso": " Direito ", "turnos": ["manhã", None]}


def test_scalars_hold_the_other_fields_trimmed() -> None:
    got = incoming(
        nome=" Ana Souza ",
        dataNascimento="2004-02-29",
        sexo=2,
        aluno=0,
        anoFormacao=2021,
        cor=3,
        baseLegal="Consentimento",
        emailPrincipal="ana@example.com",
        origem=3,
        token="a" * 32,
    )
    assert got.scalars == {
        "nome": "Ana Souza",
        "dataNascimento": "2004-02-29",
        "sexo": 2,
        "aluno": 0,
        "anoFormacao": 2021,
        "cor": 3,
        "baseLegal": "Consentimento",
    }


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"emailPrincipal": "not-an-address"}, "emailPrincipal"),
        ({"email": ["ok@example.com", "bad@"]}, "email[1]"),
        ({"cpf": "529.982.247-24"}, "cpf"),
        ({"cpf": "222.222.222-22"}, "cpf"),
        ({"telefonePrincipal": "12"}, "telefonePrincipal"),
        ({"telefone": ["11987654321", "x"]}, "telefone[1]"),
    ],
)
def test_invalid_identity_values_name_the_field(values: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        incoming(**values)
    assert list(caught.value.fields) == [field]


# --- merge_profile ---------------------------------------------------------------------------


def test_first_profile_from_nothing() -> None:
    profile = profile_of(
        {
            "codigo": "C1",
            "nome": "Ana",
            "emailPrincipal": "ana@example.com",
            "telefonePrincipal": "(11) 98765-4321",
            "cpf": "529.982.247-25",
            "tags": ["lead"],
        }
    )
    assert profile == {
        "codigo": "C1",
        "nome": "Ana",
        "emailPrincipal": "ana@example.com",
        "telefonePrincipal": "(11) 98765-4321",
        "cpf": "52998224725",
        "email": [],
        "telefone": [],
        "tags": ["lead"],
        "camposPersonalizados": {},
        "assinaturas": [],
    }


def test_merge_does_not_change_the_stored_dict() -> None:
    stored = profile_of({"emailPrincipal": "ana@example.com", "tags": ["a"], "email": ["x@y.z"]})
    snapshot = copy.deepcopy(stored)
    merge_profile(stored, incoming(emailPrincipal="b@example.com", tags=["b"], email=["w@y.z"]))
    assert stored == snapshot


def test_empty_values_never_erase() -> None:
    stored = profile_of(
        {
            "nome": "Ana",
            "emailPrincipal": "ana@example.com",
            "telefonePrincipal": "(11) 98765-4321",
            "cpf": "52998224725",
            "bairro": "Centro",
            "estadoCidade": {"cidade": "Curitiba", "estado": "PR"},
            "camposPersonalizados": {"Curso": "Direito", "turnos": ["manhã"]},
            "tags": ["lead"],
        }
    )
    blank = incoming(
        nome="",
        bairro="  ",
        emailPrincipal="",
        telefonePrincipal=None,
        cpf="",
        estadoCidade={"cidade": "", "estado": None},
        camposPersonalizados={"Curso": None, "turnos": [], "novo": None},
        tags=[],
    )
    merged = merge_profile(stored, blank)
    assert merged == {
        **stored,
        "camposPersonalizados": {**stored["camposPersonalizados"], "novo": None},
    }


def test_values_replace_and_new_fields_are_added() -> None:
    profile = profile_of(
        {"nome": "Ana", "profissao": "Estudante"},
        {"nome": "Ana Souza", "sexo": 2},
    )
    assert (profile["nome"], profile["profissao"], profile["sexo"]) == ("Ana Souza", "Estudante", 2)


def test_tags_added_and_removed_in_order() -> None:
    profile = profile_of(
        {"tags": ["lead", "enem"]},
        {"tags": ["inscrita", "lead"], "tagsRemovidas": ["enem"]},
        {"tagsRemovidas": ["nunca-teve"]},
    )
    assert profile["tags"] == ["lead", "inscrita"]


def test_tag_both_added_and_removed_ends_removed() -> None:
    assert profile_of({"tags": ["a"]}, {"tags": ["b"], "tagsRemovidas": ["b"]})["tags"] == ["a"]


def test_new_email_principal_moves_the_old_one_to_secondary() -> None:
    profile = profile_of(
        {"emailPrincipal": "ana@old.example", "email": ["ana@work.example"]},
        {"emailPrincipal": "ana@new.example"},
    )
    assert profile["emailPrincipal"] == "ana@new.example"
    assert profile["email"] == ["ana@work.example", "ana@old.example"]


def test_secondary_email_promoted_to_principal_is_not_listed_twice() -> None:
    profile = profile_of(
        {"emailPrincipal": "ana@old.example", "email": ["ana@work.example"]},
        {"emailPrincipal": "ana@work.example"},
    )
    assert profile["emailPrincipal"] == "ana@work.example"
    assert profile["email"] == ["ana@old.example"]


def test_secondary_emails_appended_once() -> None:
    profile = profile_of(
        {"emailPrincipal": "ana@example.com", "email": ["a@x.com"]},
        {"email": ["A@X.com", "b@x.com", "ana@example.com"]},
    )
    assert profile["email"] == ["a@x.com", "b@x.com"]


def test_new_phone_principal_moves_the_old_one_to_secondary() -> None:
    profile = profile_of(
        {"telefonePrincipal": "(11) 98765-4321"},
        {"telefonePrincipal": "(11) 91234-5678", "telefone": ["(11) 3333-4444"]},
    )
    assert profile["telefonePrincipal"] == "(11) 91234-5678"
    assert profile["telefone"] == ["(11) 98765-4321", "(11) 3333-4444"]


def test_one_phone_number_written_differently_is_listed_once() -> None:
    profile = profile_of(
        {"telefonePrincipal": "(11) 98765-4321", "telefone": ["(11) 3333-4444"]},
        {
            "telefonePrincipal": "+55 11 98765-4321",
            "telefone": ["11987654321", "+55 11 3333-4444", "(11) 2222-1111"],
        },
    )
    assert profile["telefonePrincipal"] == "+55 11 98765-4321"
    assert profile["telefone"] == ["(11) 3333-4444", "(11) 2222-1111"]


def test_keep_principal_leaves_identity_fields_alone() -> None:
    stored = profile_of(
        {
            "codigo": "A1",
            "emailPrincipal": "ana@example.com",
            "telefonePrincipal": "(11) 98765-4321",
            "cpf": "52998224725",
        }
    )
    other = incoming(
        codigo="B1",
        emailPrincipal="bia@example.com",
        telefonePrincipal="(21) 99999-8888",
        cpf="111.444.777-35",
        nome="Ana",
    )
    merged = merge_profile(stored, other, keep_principal={"codigo", "email", "phone", "cpf"})
    assert merged == {**stored, "nome": "Ana"}
    assert "bia@example.com" not in merged["email"]
    assert merged["telefone"] == []


def test_custom_fields_kept_as_given_and_merged_by_key() -> None:
    profile = profile_of(
        {"camposPersonalizados": {"Curso": " Direito ", "nota": 7, "turnos": ["manhã"]}},
        {"camposPersonalizados": {"nota": 8.5, "turnos": ["noite", 2], "curso": "Medicina"}},
    )
    assert profile["camposPersonalizados"] == {
        "Curso": " Direito ",
        "nota": 8.5,
        "turnos": ["noite", 2],
        "curso": "Medicina",
    }


def test_consents_merge_by_id() -> None:
    profile = profile_of(
        {"assinaturas": [{"id": 5, "status": 1}, {"id": 6, "status": 1}]},
        {"assinaturas": [{"id": "5", "status": 2}, {"id": 7, "status": 1}]},
    )
    assert sorted(profile["assinaturas"], key=lambda c: c["id"]) == [
        {"id": "5", "status": 2},
        {"id": "6", "status": 1},
        {"id": "7", "status": 1},
    ]


def test_place_merges_by_key() -> None:
    profile = profile_of(
        {"estadoCidade": {"cidade": "Curitiba", "estado": "pr"}},
        {"estadoCidade": {"cidade": "Londrina"}},
    )
    assert profile["estadoCidade"] == {"cidade": "Londrina", "estado": "PR"}

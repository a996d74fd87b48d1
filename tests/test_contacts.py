"""Contacts as a CRM user sees them: matching (SPEC §5 order), update rules, validation,
`Contato/cadastro`, `Contato/dadosPessoa`, and identify linking sessions retroactively."""

from __future__ import annotations

from typing import Any

import httpx2
from sqlalchemy import Engine, func, select
from starlette.testclient import TestClient

from pegada.ids import new_tracking_id
from pegada.storage.tables import contacts, submissions
from tests.conftest import SeedTenant

VALID_CPF = "529.982.247-25"
VALID_CPF_DIGITS = "52998224725"
OTHER_CPF = "111.444.777-35"


# --- helpers ---------------------------------------------------------------------------------


def cadastro(client: TestClient, tenant: SeedTenant, **fields: Any) -> httpx2.Response:
    return client.post("/api/Contato/cadastro", json={**tenant.creds(), **fields})


def cadastro_id(client: TestClient, tenant: SeedTenant, **fields: Any) -> str:
    reply = cadastro(client, tenant, **fields)
    assert reply.status_code == 200, reply.json()
    contact_id: str = reply.json()["dados"]["id"]
    return contact_id


def identify(
    client: TestClient,
    tenant: SeedTenant,
    *,
    session_id: str | None = None,
    substitute_id: str | None = None,
    **fields: Any,
) -> httpx2.Response:
    body = {
        "hostClient": tenant.host_client,
        "session_id": session_id or new_tracking_id(),
        "substitute_id": substitute_id or new_tracking_id(),
        **tenant.creds(),
        **fields,
    }
    return client.patch("/api/identify", json=body)


def identify_id(client: TestClient, tenant: SeedTenant, **kwargs: Any) -> str:
    reply = identify(client, tenant, **kwargs)
    assert reply.status_code == 200, reply.json()
    contact_id: str = reply.json()["dados"]["id"]
    return contact_id


def details(client: TestClient, tenant: SeedTenant, **ref: Any) -> dict[str, Any]:
    reply = client.post("/api/Contato/dadosPessoa", json={**tenant.creds(), **ref})
    assert reply.status_code == 200, reply.json()
    dados: dict[str, Any] = reply.json()["dados"]
    return dados


def contact_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(contacts)).scalar_one())


def notes_of(engine: Engine, contact_id: str) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(submissions.c.notes)
            .where(submissions.c.contact_id == int(contact_id))
            .order_by(submissions.c.id)
        ).scalars()
        return [note for notes in rows for note in notes]


def assert_refused(reply: httpx2.Response, status: int, field: str) -> None:
    assert reply.status_code == status, reply.json()
    body = reply.json()
    assert body["success"] is False
    assert field in body["fields"], body
    assert field in body["error"]


# --- matching, in SPEC order -----------------------------------------------------------------


def test_match_by_id_updates_instead_of_duplicating(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    contact_id = cadastro_id(client, seed_tenant, nome="Ana", emailPrincipal="ana@example.com")
    again = cadastro_id(client, seed_tenant, id=contact_id, nome="Ana Souza")
    assert again == contact_id
    assert details(client, seed_tenant, id=contact_id)["nome"] == "Ana Souza"
    assert contact_count(engine) == 1


def test_match_by_id_accepts_the_id_as_a_number(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    contact_id = cadastro_id(client, seed_tenant, emailPrincipal="ana@example.com")
    assert cadastro_id(client, seed_tenant, id=int(contact_id), profissao="Médica") == contact_id
    assert details(client, seed_tenant, id=int(contact_id))["profissao"] == "Médica"
    assert contact_count(engine) == 1


def test_id_comes_before_email(client: TestClient, seed_tenant: SeedTenant, engine: Engine) -> None:
    ana = cadastro_id(client, seed_tenant, nome="Ana", emailPrincipal="ana@example.com")
    bia = cadastro_id(client, seed_tenant, nome="Bia", emailPrincipal="bia@example.com")
    matched = cadastro_id(
        client, seed_tenant, id=ana, emailPrincipal="bia@example.com", profissao="Advogada"
    )
    assert matched == ana
    ana_person = details(client, seed_tenant, id=ana)
    assert ana_person["profissao"] == "Advogada"
    assert ana_person["emailPrincipal"] == "ana@example.com"
    assert "profissao" not in details(client, seed_tenant, id=bia)
    assert contact_count(engine) == 2


def test_match_by_codigo(client: TestClient, seed_tenant: SeedTenant, engine: Engine) -> None:
    contact_id = cadastro_id(
        client, seed_tenant, codigo="CRM-1", emailPrincipal="ana@example.com", nome="Ana"
    )
    again = cadastro_id(client, seed_tenant, codigo="CRM-1", telefonePrincipal="(11) 98765-4321")
    assert again == contact_id
    person = details(client, seed_tenant, codigo="CRM-1")
    assert person["id"] == contact_id
    assert person["telefonePrincipal"] == "(11) 98765-4321"
    assert person["emailPrincipal"] == "ana@example.com"
    assert contact_count(engine) == 1


def test_codigo_given_as_number_or_text_is_the_same(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    contact_id = cadastro_id(client, seed_tenant, codigo=155, emailPrincipal="ana@example.com")
    assert cadastro_id(client, seed_tenant, codigo="155", telefonePrincipal="11987654321") == (
        contact_id
    )
    assert details(client, seed_tenant, codigo=155)["id"] == contact_id
    assert contact_count(engine) == 1


def test_codigo_comes_before_email(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    ana = cadastro_id(client, seed_tenant, codigo="A1", emailPrincipal="ana@example.com")
    bia = cadastro_id(client, seed_tenant, emailPrincipal="bia@example.com")
    assert cadastro_id(client, seed_tenant, codigo="A1", emailPrincipal="bia@example.com") == ana
    assert bia != ana
    assert contact_count(engine) == 2


def test_email_is_trimmed_and_lower_cased(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    contact_id = cadastro_id(client, seed_tenant, emailPrincipal=" Ana@Example.COM ", nome="Ana")
    assert cadastro_id(client, seed_tenant, emailPrincipal="ana@example.com") == contact_id
    assert cadastro_id(client, seed_tenant, emailPrincipal="ANA@EXAMPLE.COM") == contact_id
    assert details(client, seed_tenant, id=contact_id)["emailPrincipal"] == "ana@example.com"
    assert contact_count(engine) == 1


def test_invalid_email_is_refused_naming_the_field(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    assert_refused(
        cadastro(client, seed_tenant, emailPrincipal="ana-at-example"), 422, "emailPrincipal"
    )
    assert_refused(
        cadastro(client, seed_tenant, emailPrincipal="ana@example.com", email=["ok@x.com", "nope"]),
        422,
        "email[1]",
    )
    assert contact_count(engine) == 0


def test_email_comes_before_cpf(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    ana = cadastro_id(client, seed_tenant, emailPrincipal="ana@example.com")
    bia = cadastro_id(client, seed_tenant, emailPrincipal="bia@example.com", cpf=VALID_CPF)
    assert cadastro_id(client, seed_tenant, emailPrincipal="ana@example.com", cpf=VALID_CPF) == ana
    assert details(client, seed_tenant, id=bia)["cpf"] == VALID_CPF_DIGITS
    assert "cpf" not in details(client, seed_tenant, id=ana)
    assert contact_count(engine) == 2


def test_formatted_cpf_matches_its_digits(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    contact_id = cadastro_id(client, seed_tenant, emailPrincipal="ana@example.com", cpf=VALID_CPF)
    again = cadastro_id(
        client, seed_tenant, cpf=VALID_CPF_DIGITS, telefonePrincipal="(11) 98765-4321"
    )
    assert again == contact_id
    person = details(client, seed_tenant, id=contact_id)
    assert person["cpf"] == VALID_CPF_DIGITS
    assert person["telefonePrincipal"] == "(11) 98765-4321"
    assert contact_count(engine) == 1


def test_cpf_with_wrong_check_digits_is_refused(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    reply = cadastro(client, seed_tenant, emailPrincipal="ana@example.com", cpf="529.982.247-24")
    assert_refused(reply, 422, "cpf")
    assert contact_count(engine) == 0


def test_cpf_of_one_repeated_digit_is_refused(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    """'111.111.111-11' passes the check-digit arithmetic but is no one's CPF (forms use it as
    filler); accepting it would merge every stranger who typed it into one contact."""
    for filler in ("111.111.111-11", "99999999999"):
        assert_refused(
            cadastro(client, seed_tenant, emailPrincipal="a@example.com", cpf=filler), 422, "cpf"
        )
    assert contact_count(engine) == 0


def test_cpf_sent_as_a_json_number_keeps_its_leading_zero(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    contact_id = cadastro_id(client, seed_tenant, emailPrincipal="ana@example.com", cpf=1234567890)
    assert details(client, seed_tenant, id=contact_id)["cpf"] == "01234567890"
    again = cadastro_id(client, seed_tenant, telefonePrincipal="11987654321", cpf="012.345.678-90")
    assert again == contact_id
    assert contact_count(engine) == 1


def test_cpf_comes_before_phone(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    ana = cadastro_id(client, seed_tenant, emailPrincipal="ana@example.com", cpf=VALID_CPF)
    bia = cadastro_id(client, seed_tenant, telefonePrincipal="(11) 98765-4321")
    matched = cadastro_id(
        client, seed_tenant, cpf=VALID_CPF_DIGITS, telefonePrincipal="+55 11 98765-4321"
    )
    assert matched == ana
    assert bia != ana
    assert contact_count(engine) == 2


def test_phone_formats_of_one_number_are_one_contact(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    contact_id = cadastro_id(client, seed_tenant, telefonePrincipal="(11) 98765-4321", nome="Ana")
    for spelling in ("+55 11 98765-4321", "11987654321", "+55 (11) 98765-4321"):
        assert cadastro_id(client, seed_tenant, telefonePrincipal=spelling) == contact_id
    assert cadastro_id(client, seed_tenant, telefonePrincipal=11987654321) == contact_id
    person = details(client, seed_tenant, id=contact_id)
    assert person["nome"] == "Ana"
    assert contact_count(engine) == 1


def test_same_phone_in_another_format_is_not_listed_twice(
    client: TestClient, seed_tenant: SeedTenant
) -> None:
    contact_id = cadastro_id(client, seed_tenant, telefonePrincipal="(11) 98765-4321")
    cadastro_id(
        client,
        seed_tenant,
        telefonePrincipal="+55 11 98765-4321",
        telefone=["11987654321", "(11) 3333-4444"],
    )
    person = details(client, seed_tenant, id=contact_id)
    assert person["telefonePrincipal"] == "+55 11 98765-4321"
    assert person["telefone"] == ["(11) 3333-4444"]


def test_invalid_phone_is_refused_naming_the_field(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    assert_refused(cadastro(client, seed_tenant, telefonePrincipal="123"), 422, "telefonePrincipal")
    assert_refused(
        cadastro(client, seed_tenant, emailPrincipal="a@example.com", telefone=["abc"]),
        422,
        "telefone[0]",
    )
    assert contact_count(engine) == 0


def test_match_by_substitute_id_links_both_sessions(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    substitute = new_tracking_id()
    first_session, second_session = new_tracking_id(), new_tracking_id()
    contact_id = identify_id(
        client, seed_tenant, session_id=first_session, substitute_id=substitute, nome="Ana"
    )
    again = identify_id(
        client,
        seed_tenant,
        session_id=second_session,
        substitute_id=substitute,
        emailPrincipal="ana@example.com",
    )
    assert again == contact_id
    person = details(client, seed_tenant, id=contact_id)
    assert person["nome"] == "Ana"
    assert person["emailPrincipal"] == "ana@example.com"
    assert {s["session_id"] for s in person["sessoes"]} == {first_session, second_session}
    assert contact_count(engine) == 1


def test_phone_comes_before_substitute_id(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    substitute = new_tracking_id()
    anonymous = identify_id(client, seed_tenant, substitute_id=substitute, nome="Visitante")
    bia = cadastro_id(client, seed_tenant, telefonePrincipal="(21) 99999-8888", nome="Bia")
    matched = identify_id(
        client, seed_tenant, substitute_id=substitute, telefonePrincipal="21999998888"
    )
    assert matched == bia
    assert details(client, seed_tenant, id=anonymous)["nome"] == "Visitante"
    assert contact_count(engine) == 2


# --- update rules ----------------------------------------------------------------------------


def test_tags_are_added_and_tags_removidas_removed(
    client: TestClient, seed_tenant: SeedTenant
) -> None:
    contact_id = cadastro_id(
        client, seed_tenant, emailPrincipal="ana@example.com", tags=["lead", "enem", "noturno"]
    )
    cadastro_id(
        client,
        seed_tenant,
        emailPrincipal="ana@example.com",
        tags=["inscrita", "lead"],
        tagsRemovidas=["enem"],
    )
    assert details(client, seed_tenant, id=contact_id)["tags"] == ["lead", "noturno", "inscrita"]
    cadastro_id(client, seed_tenant, id=contact_id, tagsRemovidas=["lead", "nunca-teve"])
    assert details(client, seed_tenant, id=contact_id)["tags"] == ["noturno", "inscrita"]


def test_secondary_emails_and_phones_are_appended(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    contact_id = cadastro_id(
        client,
        seed_tenant,
        emailPrincipal="ana@example.com",
        email=["ana.trabalho@example.com"],
        telefone=["(11) 3333-4444"],
    )
    cadastro_id(
        client,
        seed_tenant,
        emailPrincipal="ana@example.com",
        email=[" Ana.Pessoal@Example.com ", "ana.trabalho@example.com"],
        telefone=["(11) 2222-1111"],
    )
    person = details(client, seed_tenant, id=contact_id)
    assert person["emailPrincipal"] == "ana@example.com"
    assert person["email"] == ["ana.trabalho@example.com", "ana.pessoal@example.com"]
    assert person["telefone"] == ["(11) 3333-4444", "(11) 2222-1111"]
    # A secondary address finds the contact when a later form gives it as the main one.
    assert cadastro_id(client, seed_tenant, emailPrincipal="ana.pessoal@example.com") == contact_id
    assert contact_count(engine) == 1


def test_new_email_principal_keeps_the_old_one(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    contact_id = cadastro_id(client, seed_tenant, codigo="A1", emailPrincipal="ana@old.example")
    cadastro_id(client, seed_tenant, codigo="A1", emailPrincipal="ana@new.example")
    person = details(client, seed_tenant, id=contact_id)
    assert person["emailPrincipal"] == "ana@new.example"
    assert person["email"] == ["ana@old.example"]
    # Both addresses still find her.
    assert cadastro_id(client, seed_tenant, emailPrincipal="ana@old.example") == contact_id
    assert cadastro_id(client, seed_tenant, emailPrincipal="ana@new.example") == contact_id
    assert contact_count(engine) == 1


def test_new_phone_principal_keeps_the_old_one(client: TestClient, seed_tenant: SeedTenant) -> None:
    contact_id = cadastro_id(client, seed_tenant, codigo="A1", telefonePrincipal="(11) 98765-4321")
    cadastro_id(client, seed_tenant, codigo="A1", telefonePrincipal="(11) 91234-5678")
    person = details(client, seed_tenant, id=contact_id)
    assert person["telefonePrincipal"] == "(11) 91234-5678"
    assert person["telefone"] == ["(11) 98765-4321"]
    assert cadastro_id(client, seed_tenant, telefonePrincipal="11987654321") == contact_id


FULL_PROFILE: dict[str, Any] = {
    "codigo": "CRM-77",
    "nome": "Ana Maria Souza",
    "nomeSocial": "Ana",
    "dataNascimento": "2004-02-29",
    "emailPrincipal": "ana@example.com",
    "telefonePrincipal": "(11) 98765-4321",
    "email": ["ana.souza@example.com"],
    "telefone": ["(11) 3333-4444"],
    "cpf": VALID_CPF,
    "endereco": "Rua das Flores, apto 12",
    "cep": "01310-100",
    "numero": "1578",
    "complemento": "Bloco B",
    "bairro": "Bela Vista",
    "sexo": 2,
    "imagemUrl": "https://example.com/ana.png",
    "estadoCidade": {"cidade": "São Paulo", "estado": "sp"},
    "profissao": "Estudante",
    "aluno": 0,
    "exaluno": 1,
    "escolaOrigem": "E.E. Caetano de Campos",
    "anoFormacao": 2021,
    "naturalidade": "Campinas",
    "nacionalidade": "Brasileira",
    "estadoCivil": "Solteira",
    "cor": 3,
    "grauInstrucao": "Ensino médio completo",
    "tags": ["lead"],
    "camposPersonalizados": {
        "Curso de interesse": "Direito",
        "turnos": ["manhã", "noite"],
        "nota_simulado": 7.5,
        "bolsista": True,
    },
    "baseLegal": "Consentimento",
    "assinaturas": [{"id": 5, "status": 1}, {"id": "newsletter", "status": 2}],
}

EXPECTED_PROFILE: dict[str, Any] = {
    **FULL_PROFILE,
    "cpf": VALID_CPF_DIGITS,
    "estadoCidade": {"cidade": "São Paulo", "estado": "SP"},
    "assinaturas": [{"id": "5", "status": 1}, {"id": "newsletter", "status": 2}],
}


def test_every_contact_field_is_accepted_and_returned(
    client: TestClient, seed_tenant: SeedTenant
) -> None:
    contact_id = cadastro_id(client, seed_tenant, **FULL_PROFILE)
    person = details(client, seed_tenant, id=contact_id)
    for name, expected in EXPECTED_PROFILE.items():
        assert person[name] == expected, name
    assert person["id"] == contact_id
    assert "token" not in person and "origem" not in person


def test_every_contact_field_is_accepted_by_identify(
    client: TestClient, seed_tenant: SeedTenant
) -> None:
    contact_id = identify_id(client, seed_tenant, **FULL_PROFILE)
    person = details(client, seed_tenant, codigo="CRM-77")
    assert person["id"] == contact_id
    for name, expected in EXPECTED_PROFILE.items():
        assert person[name] == expected, name


def test_empty_and_null_values_never_erase_stored_fields(
    client: TestClient, seed_tenant: SeedTenant
) -> None:
    contact_id = cadastro_id(client, seed_tenant, **FULL_PROFILE)
    blanks: dict[str, Any] = {
        name: None for name in FULL_PROFILE if name not in {"emailPrincipal", "codigo"}
    }
    blanks.update(
        {
            "nome": "",
            "nomeSocial": "   ",
            "endereco": "",
            "bairro": " ",
            "cpf": "",
            "telefonePrincipal": "",
            "email": [""],
            "telefone": ["  "],
            "tags": [],
            "estadoCidade": {"cidade": "", "estado": None},
            "camposPersonalizados": {"Curso de interesse": None, "turnos": [], "bolsista": ""},
            "assinaturas": [],
        }
    )
    cadastro_id(client, seed_tenant, codigo="CRM-77", emailPrincipal="ana@example.com", **blanks)
    cadastro_id(client, seed_tenant, id=contact_id, emailPrincipal="", cpf=" ", telefone=[])
    person = details(client, seed_tenant, id=contact_id)
    for name, expected in EXPECTED_PROFILE.items():
        assert person[name] == expected, name


def test_custom_fields_are_kept_as_given_and_merged_by_key(
    client: TestClient, seed_tenant: SeedTenant
) -> None:
    contact_id = cadastro_id(
        client,
        seed_tenant,
        emailPrincipal="ana@example.com",
        camposPersonalizados={"Curso de interesse": " Direito ", "turnos": ["manhã"], "nota": 7},
    )
    cadastro_id(
        client,
        seed_tenant,
        emailPrincipal="ana@example.com",
        camposPersonalizados={"nota": 8.5, "turnos": ["noite", 2, None], "CURSO": "Medicina"},
    )
    assert details(client, seed_tenant, id=contact_id)["camposPersonalizados"] == {
        "Curso de interesse": " Direito ",
        "turnos": ["noite", 2, None],
        "nota": 8.5,
        "CURSO": "Medicina",
    }


def test_consents_are_merged_by_id(client: TestClient, seed_tenant: SeedTenant) -> None:
    contact_id = cadastro_id(
        client,
        seed_tenant,
        emailPrincipal="ana@example.com",
        assinaturas=[{"id": 5, "status": 1}, {"id": 6, "status": 1}],
    )
    cadastro_id(client, seed_tenant, id=contact_id, assinaturas=[{"id": "5", "status": 2}])
    consents = details(client, seed_tenant, id=contact_id)["assinaturas"]
    assert sorted(consents, key=lambda c: c["id"]) == [
        {"id": "5", "status": 2},
        {"id": "6", "status": 1},
    ]


def test_place_is_merged_and_uf_upper_cased(client: TestClient, seed_tenant: SeedTenant) -> None:
    contact_id = cadastro_id(
        client,
        seed_tenant,
        emailPrincipal="ana@example.com",
        estadoCidade={"cidade": "Curitiba", "estado": "pr"},
    )
    cadastro_id(client, seed_tenant, id=contact_id, estadoCidade={"cidade": "Londrina"})
    place = details(client, seed_tenant, id=contact_id)["estadoCidade"]
    assert place == {"cidade": "Londrina", "estado": "PR"}


def test_malformed_field_values_are_refused_naming_the_field(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    base = {"emailPrincipal": "ana@example.com"}
    cases = {
        "dataNascimento": "31/12/2000",
        "sexo": 3,
        "aluno": 2,
        "anoFormacao": 1850,
        "estadoCidade": {"estado": "São Paulo"},
        "assinaturas": [{"id": 1, "status": 9}],
    }
    for name, value in cases.items():
        reply = cadastro(client, seed_tenant, **base, **{name: value})
        assert reply.status_code == 422, (name, reply.json())
        assert any(key.startswith(name) for key in reply.json()["fields"]), (name, reply.json())
    assert contact_count(engine) == 0


# --- size limits: refused, never truncated ----------------------------------------------------


def test_oversized_strings_are_refused_not_truncated(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    assert_refused(
        cadastro(client, seed_tenant, emailPrincipal="ana@example.com", bairro="b" * 46),
        422,
        "bairro",
    )
    assert_refused(
        cadastro(client, seed_tenant, emailPrincipal="ana@example.com", endereco="e" * 256),
        422,
        "endereco",
    )
    assert_refused(
        identify(client, seed_tenant, emailPrincipal="ana@example.com", nome="n" * 256),
        422,
        "nome",
    )
    assert contact_count(engine) == 0

    contact_id = cadastro_id(
        client, seed_tenant, emailPrincipal="ana@example.com", bairro="b" * 45, endereco="e" * 255
    )
    assert_refused(cadastro(client, seed_tenant, id=contact_id, bairro="x" * 46), 422, "bairro")
    person = details(client, seed_tenant, id=contact_id)
    assert person["bairro"] == "b" * 45
    assert person["endereco"] == "e" * 255


# --- Contato/cadastro and Contato/dadosPessoa --------------------------------------------------


def test_cadastro_needs_an_email_or_a_phone(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    for fields in (
        {"nome": "Ana"},
        {"nome": "Ana", "emailPrincipal": "", "telefonePrincipal": None},
    ):
        reply = cadastro(client, seed_tenant, **fields)
        assert reply.status_code == 422
        assert {"emailPrincipal", "telefonePrincipal"} <= set(reply.json()["fields"])
    assert contact_count(engine) == 0
    assert (
        cadastro(client, seed_tenant, nome="Ana", telefonePrincipal="11987654321").status_code
        == 200
    )
    assert (
        cadastro(client, seed_tenant, nome="Bia", emailPrincipal="bia@example.com").status_code
        == 200
    )
    assert contact_count(engine) == 2


def test_cadastro_of_a_known_id_needs_no_email(client: TestClient, seed_tenant: SeedTenant) -> None:
    contact_id = cadastro_id(client, seed_tenant, emailPrincipal="ana@example.com")
    assert cadastro_id(client, seed_tenant, id=contact_id, nome="Ana") == contact_id
    assert details(client, seed_tenant, id=contact_id)["nome"] == "Ana"


def test_cadastro_needs_the_channel_credentials(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    reply = client.post("/api/Contato/cadastro", json={"emailPrincipal": "ana@example.com"})
    assert reply.status_code == 401
    assert {"origem", "token"} <= set(reply.json()["fields"])
    reply = client.post(
        "/api/Contato/cadastro",
        json={"emailPrincipal": "ana@example.com", "origem": 3, "token": "0" * 32},
    )
    assert reply.status_code == 401
    assert contact_count(engine) == 0


def test_cadastro_with_nested_evento_puts_the_event_on_the_contact(
    client: TestClient, seed_tenant: SeedTenant
) -> None:
    contact_id = cadastro_id(
        client,
        seed_tenant,
        emailPrincipal="ana@example.com",
        nome="Ana",
        evento={
            "tipo": 29,
            "descricao": "<p>Inscrita em Direito</p>",
            "codOferta": "3",
            "codCurso": 1,
            "camposPersonalizados": {"turno": "noite"},
        },
    )
    cadastro_id(
        client,
        seed_tenant,
        emailPrincipal="ana@example.com",
        evento={"codTipo": "inscricao", "codCurso": "2"},
    )
    person = details(client, seed_tenant, id=contact_id)
    first, second = person["eventos"]
    assert first["tipo"] == {"id": 29, "codigo": "inscricao", "titulo": "Inscrição no curso"}
    assert first["dados"]["descricao"] == "<p>Inscrita em Direito</p>"
    assert first["dados"]["codOferta"] == "3"
    assert first["dados"]["camposPersonalizados"] == {"turno": "noite"}
    assert second["tipo"]["id"] == 29
    assert second["dados"]["codCurso"] == "2"


def test_cadastro_with_an_unknown_event_type_saves_nothing(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    reply = cadastro(client, seed_tenant, emailPrincipal="ana@example.com", evento={"tipo": 999})
    assert_refused(reply, 422, "evento.tipo")
    reply = cadastro(
        client, seed_tenant, emailPrincipal="ana@example.com", evento={"descricao": "x"}
    )
    assert_refused(reply, 422, "evento.tipo")
    assert contact_count(engine) == 0


def test_dados_pessoa_by_id_and_by_codigo(client: TestClient, seed_tenant: SeedTenant) -> None:
    contact_id = cadastro_id(
        client, seed_tenant, codigo="CRM-9", nome="Ana", emailPrincipal="ana@example.com"
    )
    by_id = details(client, seed_tenant, id=contact_id)
    by_codigo = details(client, seed_tenant, codigo="CRM-9")
    assert by_id == by_codigo
    assert by_id["id"] == contact_id
    assert by_id["nome"] == "Ana"
    assert by_id["codigo"] == "CRM-9"
    assert by_id["sessoes"] == [] and by_id["eventos"] == []


def test_dados_pessoa_of_an_unknown_contact_is_404_naming_the_field(
    client: TestClient, seed_tenant: SeedTenant
) -> None:
    cadastro_id(client, seed_tenant, codigo="CRM-9", emailPrincipal="ana@example.com")
    reply = client.post("/api/Contato/dadosPessoa", json={"id": 424242, **seed_tenant.creds()})
    assert_refused(reply, 404, "id")
    reply = client.post("/api/Contato/dadosPessoa", json={"codigo": "nope", **seed_tenant.creds()})
    assert_refused(reply, 404, "codigo")
    reply = client.post("/api/Contato/dadosPessoa", json=seed_tenant.creds())
    assert_refused(reply, 422, "id")


def test_updating_an_unknown_id_is_404_and_creates_nothing(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    reply = cadastro(client, seed_tenant, id=424242, emailPrincipal="ana@example.com")
    assert_refused(reply, 404, "id")
    reply = identify(client, seed_tenant, id="424242", emailPrincipal="ana@example.com")
    assert_refused(reply, 404, "id")
    assert contact_count(engine) == 0


# --- identify: sessions, retroactive events, submissions --------------------------------------


def send_event_v2(client: TestClient, tenant: SeedTenant, session_id: str, **event: Any) -> None:
    reply = client.patch(
        "/api/v2/sendEvent",
        json={
            "hostClient": tenant.host_client,
            "session_id": session_id,
            "event": {"tipo": tenant.event_type_id, **tenant.creds(), **event},
        },
    )
    assert reply.json() == {"success": True, "dados": 1}


def test_identify_moves_waiting_events_to_the_contact(
    client: TestClient, seed_tenant: SeedTenant
) -> None:
    session = new_tracking_id()
    other_session = new_tracking_id()
    send_event_v2(client, seed_tenant, session, codCurso="1", momento="2024-03-01 10:00:00")
    send_event_v2(client, seed_tenant, session, codCurso="2", momento="2024-03-02 10:00:00")
    send_event_v2(client, seed_tenant, other_session, codCurso="3")

    contact_id = identify_id(client, seed_tenant, session_id=session, nome="Ana")
    person = details(client, seed_tenant, id=contact_id)
    assert [e["dados"]["codCurso"] for e in person["eventos"]] == ["1", "2"]
    assert {e["session_id"] for e in person["eventos"]} == {session}
    assert [s["session_id"] for s in person["sessoes"]] == [session]
    assert person["sessoes"][0]["identificadaEm"] is not None

    # Events after identification land on the contact directly.
    send_event_v2(client, seed_tenant, session, codCurso="4")
    person = details(client, seed_tenant, id=contact_id)
    assert [e["dados"]["codCurso"] for e in person["eventos"]] == ["1", "2", "4"]


def test_session_of_one_contact_is_not_taken_by_another(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    session = new_tracking_id()
    ana = identify_id(client, seed_tenant, session_id=session, emailPrincipal="ana@example.com")
    send_event_v2(client, seed_tenant, session, codCurso="1")
    bia = identify_id(client, seed_tenant, session_id=session, emailPrincipal="bia@example.com")
    assert bia != ana
    assert [s["session_id"] for s in details(client, seed_tenant, id=ana)["sessoes"]] == [session]
    assert len(details(client, seed_tenant, id=ana)["eventos"]) == 1
    bia_person = details(client, seed_tenant, id=bia)
    assert bia_person["sessoes"] == [] and bia_person["eventos"] == []
    assert any("session" in note for note in notes_of(engine, bia))


def test_identify_keeps_the_submission_without_the_token(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    contact_id = identify_id(
        client, seed_tenant, emailPrincipal="ana@example.com", camposPersonalizados={"x": 1}
    )
    with engine.connect() as conn:
        rows = conn.execute(
            select(submissions).where(submissions.c.contact_id == int(contact_id))
        ).all()
    [row] = rows
    assert row.endpoint == "identify"
    assert row.payload["emailPrincipal"] == "ana@example.com"
    assert row.payload["camposPersonalizados"] == {"x": 1}
    assert "token" not in row.payload
    assert row.notes == []


def test_identify_needs_the_tracking_ids(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    body = {"hostClient": seed_tenant.host_client, **seed_tenant.creds(), "nome": "Ana"}
    for missing in ("session_id", "substitute_id"):
        given = {**body, "session_id": new_tracking_id(), "substitute_id": new_tracking_id()}
        del given[missing]
        assert_refused(client.patch("/api/identify", json=given), 422, missing)
    assert contact_count(engine) == 0


# --- a key owned by another contact is not stolen ---------------------------------------------


def test_email_of_another_contact_is_not_stolen(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    ana = cadastro_id(
        client, seed_tenant, codigo="A1", nome="Ana", emailPrincipal="ana@example.com"
    )
    bia = cadastro_id(client, seed_tenant, nome="Bia", emailPrincipal="bia@example.com")
    matched = cadastro_id(
        client,
        seed_tenant,
        codigo="A1",
        emailPrincipal="bia@example.com",
        email=["bia@example.com"],
        profissao="Engenheira",
    )
    assert matched == ana
    ana_person = details(client, seed_tenant, id=ana)
    assert ana_person["emailPrincipal"] == "ana@example.com"
    assert "bia@example.com" not in ana_person["email"]
    assert ana_person["profissao"] == "Engenheira"  # the rest of the form is applied
    bia_person = details(client, seed_tenant, id=bia)
    assert bia_person["nome"] == "Bia"
    assert bia_person["emailPrincipal"] == "bia@example.com"
    # The address still leads to Bia.
    assert cadastro_id(client, seed_tenant, emailPrincipal="bia@example.com") == bia
    notes = notes_of(engine, ana)
    assert any("bia@example.com" in note and f"contact {bia}" in note for note in notes), notes
    assert contact_count(engine) == 2


def test_cpf_and_phone_of_another_contact_are_not_stolen(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    ana = cadastro_id(client, seed_tenant, emailPrincipal="ana@example.com", cpf=VALID_CPF)
    bia = cadastro_id(
        client,
        seed_tenant,
        emailPrincipal="bia@example.com",
        cpf=OTHER_CPF,
        telefonePrincipal="(11) 98765-4321",
    )
    matched = cadastro_id(
        client,
        seed_tenant,
        emailPrincipal="ana@example.com",
        cpf=OTHER_CPF,
        telefonePrincipal="+55 11 98765-4321",
    )
    assert matched == ana
    ana_person = details(client, seed_tenant, id=ana)
    assert ana_person["cpf"] == VALID_CPF_DIGITS
    assert "telefonePrincipal" not in ana_person
    assert "11987654321" not in "".join(ana_person["telefone"]).replace(" ", "")
    bia_person = details(client, seed_tenant, id=bia)
    assert bia_person["cpf"] == "11144477735"
    assert bia_person["telefonePrincipal"] == "(11) 98765-4321"
    notes = notes_of(engine, ana)
    assert any("cpf" in note and f"contact {bia}" in note for note in notes), notes
    assert any("telefonePrincipal" in note or "phone" in note for note in notes), notes


def test_codigo_of_another_contact_is_not_stolen(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    ana = cadastro_id(client, seed_tenant, emailPrincipal="ana@example.com")
    bia = cadastro_id(client, seed_tenant, codigo="B1", emailPrincipal="bia@example.com")
    assert cadastro_id(client, seed_tenant, id=ana, codigo="B1") == ana
    assert "codigo" not in details(client, seed_tenant, id=ana)
    assert details(client, seed_tenant, codigo="B1")["id"] == bia
    assert any("codigo" in note for note in notes_of(engine, ana))


def test_new_contact_does_not_list_an_address_another_contact_owns(
    client: TestClient, seed_tenant: SeedTenant, engine: Engine
) -> None:
    ana = cadastro_id(client, seed_tenant, emailPrincipal="ana@example.com")
    bia = cadastro_id(
        client,
        seed_tenant,
        emailPrincipal="bia@example.com",
        email=["ana@example.com", "bia.trabalho@example.com"],
    )
    assert bia != ana
    assert details(client, seed_tenant, id=bia)["email"] == ["bia.trabalho@example.com"]
    assert cadastro_id(client, seed_tenant, emailPrincipal="ana@example.com") == ana
    assert cadastro_id(client, seed_tenant, emailPrincipal="bia.trabalho@example.com") == bia
    assert any("ana@example.com" in note for note in notes_of(engine, bia))

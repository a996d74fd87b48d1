"""Identity keys: however a form writes an e-mail, CPF or phone, one person is one key."""

from __future__ import annotations

import pytest

from pegada.errors import InvalidInput
from pegada.identity.keys import normalize_cpf, normalize_email, normalize_phone


@pytest.mark.parametrize(
    "written",
    ["ana@example.com", " Ana@Example.COM ", "ANA@EXAMPLE.COM", "\tana@example.com\n"],
)
def test_email_is_trimmed_and_lower_cased(written: str) -> None:
    assert normalize_email("emailPrincipal", written) == "ana@example.com"


@pytest.mark.parametrize(
    "written", ["", "ana", "ana@", "@example.com", "ana@@example.com", "ana @example.com"]
)
def test_invalid_email_names_the_field(written: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        normalize_email("email[2]", written)
    assert list(caught.value.fields) == ["email[2]"]
    assert caught.value.message.startswith("email[2]:")
    assert caught.value.status == 422


@pytest.mark.parametrize("written", ["529.982.247-25", "52998224725", " 529 982 247 25 "])
def test_cpf_is_its_eleven_digits(written: str) -> None:
    assert normalize_cpf("cpf", written) == "52998224725"


def test_cpf_with_leading_zero_keeps_it() -> None:
    assert normalize_cpf("cpf", "012.345.678-90") == "01234567890"


@pytest.mark.parametrize(
    "written",
    [
        "529.982.247-24",  # wrong second check digit
        "529.982.247-15",  # wrong first check digit
        "5299822472",  # too short
        "529982247250",  # too long
        "abc.def.ghi-jk",
        "000.000.000-00",
        "111.111.111-11",  # passes the arithmetic, but filler
        "99999999999",
    ],
)
def test_invalid_cpf_names_the_field(written: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        normalize_cpf("cpf", written)
    assert list(caught.value.fields) == ["cpf"]
    assert "CPF" in caught.value.message


@pytest.mark.parametrize(
    "written",
    [
        "(11) 98765-4321",
        "+55 11 98765-4321",
        "+55 (11) 98765-4321",
        "11987654321",
        "11 98765 4321",
        "011 98765-4321",
        "+5511987654321",
    ],
)
def test_brazilian_mobile_spellings_are_one_key(written: str) -> None:
    assert normalize_phone("telefonePrincipal", written) == "5511987654321"


def test_landline_and_foreign_numbers() -> None:
    assert normalize_phone("telefone[0]", "(11) 3333-4444") == "551133334444"
    assert normalize_phone("telefone[0]", "+1 650 253 0000") == "16502530000"
    assert normalize_phone("telefone[0]", "+351 912 345 678") == "351912345678"


def test_phone_region_reads_national_numbers() -> None:
    assert normalize_phone("telefone", "912 345 678", region="PT") == "351912345678"


@pytest.mark.parametrize("written", ["", "abc", "123", "+55 11", "9" * 30])
def test_invalid_phone_names_the_field(written: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        normalize_phone("telefone[1]", written)
    assert list(caught.value.fields) == ["telefone[1]"]

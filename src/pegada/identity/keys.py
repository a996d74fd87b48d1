"""Normalising identity keys so that the same person is recognised however a form wrote them.

Uses well-kept libraries: `email-validator` for addresses, `python-stdnum` for CPF check
digits, `phonenumbers` for phone numbers (Brazilian numbers without a country code are read
as such, as a Brazilian school's form would send them).
"""

from __future__ import annotations

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from stdnum.br import cpf as stdnum_cpf
from stdnum.exceptions import ValidationError as StdnumError

from pegada.errors import field_error

DEFAULT_PHONE_REGION = "BR"


def normalize_email(field: str, value: str) -> str:
    """Trimmed, lower-cased, syntactically valid address (no DNS look-up)."""
    candidate = value.strip()
    try:
        result = validate_email(candidate, check_deliverability=False)
    except EmailNotValidError as exc:
        raise field_error(field, f"not a valid e-mail address ({exc})") from exc
    return result.normalized.lower()


def normalize_cpf(field: str, value: str) -> str:
    """The 11 digits of a CPF whose check digits are right."""
    try:
        digits = str(stdnum_cpf.validate(value.strip()))
    except StdnumError as exc:
        raise field_error(field, "not a valid CPF (check digits do not match)") from exc
    if len(set(digits)) == 1:
        # 111.111.111-11 and the like pass the arithmetic but are nobody's CPF (form filler);
        # as a key they would merge every stranger who typed one into a single contact.
        raise field_error(field, "not a valid CPF (all digits are the same)")
    return digits


def normalize_phone(field: str, value: str, region: str = DEFAULT_PHONE_REGION) -> str:
    """E.164 digits (country code first, no '+'), so '(11) 98765-4321' and
    '+55 11 98765-4321' are the same key."""
    try:
        parsed = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        raise field_error(field, "not a phone number") from exc
    if not phonenumbers.is_possible_number(parsed):
        raise field_error(field, "not a possible phone number (wrong number of digits)")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164).lstrip("+")

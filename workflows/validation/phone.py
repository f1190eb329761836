"""Phone numbers as Indonesians type them, normalised to E.164 for storage and call-backs."""

from __future__ import annotations

import phonenumbers

DEFAULT_REGION = "ID"
_MAX_INPUT = 64  # a phone number typed in chat is never longer; bounds the parser's work


def normalize_phone(raw: str) -> str | None:
    """E.164 form ("+628123456789") of a valid number, or None.

    Numbers without "+" are read as Indonesian ("0812…", "62812…", "812…", "(0274) 512345");
    numbers with "+" may be foreign, since migrant workers report from abroad. Letters are not
    read as keypad digits: the number's digits must all have been typed as digits.
    """
    if not raw or len(raw) > _MAX_INPUT:
        return None
    try:
        number = phonenumbers.parse(raw, DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    # Guard against vanity conversion ("0812 FLOWERS"): the digits must appear as typed.
    if phonenumbers.national_significant_number(number) not in phonenumbers.normalize_digits_only(raw):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def mask_phone(value: str) -> str:
    """A phone number as a message to staff or an export may show it: its last three digits,
    enough to tell two numbers apart on a call-back list, too few to dial (UU 27/2022)."""
    return "*" * max(0, len(value) - 3) + value[-3:]

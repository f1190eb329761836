"""Pure checks for what citizens type: NIK, phone numbers and ticket numbers."""

from workflows.validation.nik import NikCheck, check_nik, mask_nik
from workflows.validation.phone import normalize_phone
from workflows.validation.ticket_number import (
    format_ticket_number,
    parse_ticket_number,
    validate_prefix,
)

__all__ = [
    "NikCheck",
    "check_nik",
    "format_ticket_number",
    "mask_nik",
    "normalize_phone",
    "parse_ticket_number",
    "validate_prefix",
]

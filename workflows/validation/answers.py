"""Checks of one answer to one flow question, shared by the chat engine and the console's
assisted-intake form: what the chat refuses, the form refuses too, for the same reason.

Each check returns the answer as the ticket records it, or `Invalid` naming why not; the
chat words the reason as an `errors/<reason>` message, the form as a note beside the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from workflows.validation.nik import check_nik
from workflows.validation.phone import normalize_phone

if TYPE_CHECKING:  # the flowbook's step types use these checks: types only, no import cycle
    from workflows.flowbook import StepSpec


@dataclass(frozen=True)
class Invalid:
    """Not an answer: `reason` is a code (the chat's `errors/` template), `context` its values."""

    reason: str
    context: dict[str, Any] = field(default_factory=dict)


def holds(condition: Mapping[str, Any] | bool, answers: Mapping[str, Any]) -> bool:
    """A step's `when`, `skippable` or `unknown_when`: true, false, or earlier answers to match."""
    if isinstance(condition, bool):
        return condition
    for key, wanted in condition.items():
        allowed = wanted if isinstance(wanted, list) else [wanted]
        if answers.get(key) not in allowed:
            return False
    return True


def unknown_allowed(step: StepSpec, answers: Mapping[str, Any]) -> bool:
    """Whether "don't know" is an answer to this NIK question, given the earlier answers."""
    return step.unknown_when is not None and holds(step.unknown_when, answers)


def text(step: StepSpec, raw: str) -> str | Invalid:
    value = raw.strip()
    if len(value) > step.max_length:
        return Invalid("too_long", {"limit": step.max_length, "length": len(value)})
    if len(value) < max(step.min_length, 1):
        return Invalid("too_short", {"minimum": step.min_length})
    return value


def nik(raw: str, *, today: date, unknown_allowed: bool) -> str | Invalid:
    check = check_nik(raw, today=today)
    if not check.ok:
        digits = sum(ch.isdigit() for ch in raw)
        return Invalid("nik", {"reason": check.error, "digits": digits, "unknown_allowed": unknown_allowed})
    return check.nik  # type: ignore[return-value]


def phone(raw: str) -> str | Invalid:
    normal = normalize_phone(raw)
    return normal if normal else Invalid("phone")


def number(step: StepSpec, raw: str) -> int | Invalid:
    value = raw.strip()
    if not re.fullmatch(r"\d{1,6}", value):
        return Invalid("not_a_number")
    result = int(value)
    if (step.min is not None and result < step.min) or (step.max is not None and result > step.max):
        return Invalid("number_range", {"min": step.min, "max": step.max})
    return result


def location(latitude: float | None, longitude: float | None) -> dict[str, float] | Invalid:
    if latitude is not None and longitude is not None and -90 <= latitude <= 90 and -180 <= longitude <= 180:
        return {"lat": latitude, "lon": longitude}
    return Invalid("expected_location")

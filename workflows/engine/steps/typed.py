"""Questions answered by typing: free text, a number, a NIK, a phone number. Each answer goes
through the checks the console's assisted-intake form uses too (`workflows.validation.answers`)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from workflows.engine.effects import Option, Say
from workflows.engine.events import Inbound
from workflows.engine.steps.base import Done, Retry, StepResult, StepType, Turn, checked
from workflows.validation import answers as checks
from workflows.validation.nik import mask_nik

if TYPE_CHECKING:
    from workflows.flowbook import StepSpec

OWN_PHONE = "own_phone"  # the phone question's answer "the number I am writing from"


class Text(StepType):
    name = "text"

    def prompt(self, step: StepSpec, turn: Turn) -> list[Say]:
        return [Say(step.prompt_key, turn.ctx(step), turn.skip(step))]

    def answer(self, step: StepSpec, turn: Turn, event: Inbound, today: date) -> StepResult:
        if event.kind != "text" or event.text is None:
            return Retry(Say("errors/expected_text"))
        return checked(step, checks.text(step, event.text))


class Number(StepType):
    name = "number"

    def prompt(self, step: StepSpec, turn: Turn) -> list[Say]:
        return [Say(step.prompt_key, turn.ctx(step, min=step.min, max=step.max), turn.skip(step))]

    def answer(self, step: StepSpec, turn: Turn, event: Inbound, today: date) -> StepResult:
        return checked(step, checks.number(step, (event.text or "") if event.kind == "text" else ""))


class Nik(StepType):
    """A NIK; about someone else it may be "don't know" (`unknown_when`), by button or by word."""

    name = "nik"

    def prompt(self, step: StepSpec, turn: Turn) -> list[Say]:
        unknown = checks.unknown_allowed(step, turn.state.answers)
        options = (Option("unknown", label_key="unknown"),) if unknown else ()
        return [Say(step.prompt_key, turn.ctx(step, unknown_allowed=unknown), options + turn.skip(step))]

    def answer(self, step: StepSpec, turn: Turn, event: Inbound, today: date) -> StepResult:
        unknown = checks.unknown_allowed(step, turn.state.answers)
        if event.kind == "choice" and event.value == "unknown" and unknown:
            return Done({step.answer_key: None})
        if event.kind != "text" or not event.text:
            return Retry(Say("errors/expected_text"))
        if unknown and turn.words.means(event.text, "dont_know"):
            return Done({step.answer_key: None})
        return checked(step, checks.nik(event.text, today=today, unknown_allowed=unknown))

    def shown(self, step: StepSpec, value: Any, turn: Turn) -> tuple[str, Any]:
        return ("unknown", None) if value is None else ("text", mask_nik(value))


class Phone(StepType):
    """A phone number, typed or shared as a contact; "this number" when the platform tells it."""

    name = "phone"

    def prompt(self, step: StepSpec, turn: Turn) -> list[Say]:
        known = turn.state.known_phone
        own = (Option(OWN_PHONE, label_key="own_phone"),) if known else ()
        return [Say(step.prompt_key, turn.ctx(step, known_phone=known), own + turn.skip(step))]

    def answer(self, step: StepSpec, turn: Turn, event: Inbound, today: date) -> StepResult:
        if event.kind == "choice" and event.value == OWN_PHONE and turn.state.known_phone:
            return Done({step.answer_key: turn.state.known_phone})
        raw = event.phone if event.kind == "contact" else event.text if event.kind == "text" else None
        if not raw:
            return Retry(Say("errors/expected_text"))
        return checked(step, checks.phone(raw))

"""Questions answered with something other than words: a shared location, photos."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from workflows.engine.effects import Option, Say
from workflows.engine.events import Inbound
from workflows.engine.state import ConversationState
from workflows.engine.steps.base import (
    Done,
    Retry,
    Stay,
    StepResult,
    StepType,
    Turn,
    checked,
)
from workflows.validation import answers as checks

if TYPE_CHECKING:
    from workflows.flowbook import StepSpec


class Location(StepType):
    name = "location"
    expects = "location"

    def prompt(self, step: StepSpec, turn: Turn) -> list[Say]:
        return [Say(step.prompt_key, turn.ctx(step), (Option("skip", label_key="skip"),), request="location")]

    def answer(self, step: StepSpec, turn: Turn, event: Inbound, today: date) -> StepResult:
        if event.kind != "location":
            return Retry(Say("errors/expected_location"))
        return checked(step, checks.location(event.latitude, event.longitude))

    def shown(self, step: StepSpec, value: Any, turn: Turn) -> tuple[str, Any]:
        return ("skipped", None) if value is None else ("location", value)


class Photos(StepType):
    """Up to `max_photos` photos, one message each; "done" (or skip) ends the step. The caller
    downloads and stores a photo only while a step of this type is asked."""

    name = "photos"
    expects = "photo"

    def prompt(self, step: StepSpec, turn: Turn) -> list[Say]:
        count = len(turn.state.answers.get(step.answer_key) or [])
        option = Option("done", label_key="done") if count else Option("skip", label_key="skip")
        ctx = turn.ctx(step, count=count, max_photos=step.max_photos)
        return [Say(step.prompt_key, ctx, (option,), request="photo")]

    def answer(self, step: StepSpec, turn: Turn, event: Inbound, today: date) -> StepResult:
        photos = list(turn.state.answers.get(step.answer_key) or [])
        if event.kind == "photo" and event.photo_error:
            return Retry(Say("errors/photo_rejected", {"reason": event.photo_error}))
        if event.kind == "photo" and event.attachment_id is not None:
            if event.attachment_id not in photos:
                photos.append(event.attachment_id)
            if len(photos) >= step.max_photos:
                return Done({step.answer_key: photos})
            received = Say("steps/photo_received", {"count": len(photos), "max_photos": step.max_photos})
            return Stay(turn.state.with_answers(**{step.answer_key: photos}), (received,))
        return Retry(Say("errors/expected_photo"))

    def skipped(self, step: StepSpec, state: ConversationState) -> Any:
        """ "Done" after some photos keeps them."""
        return list(state.answers.get(step.answer_key) or [])

    def shown(self, step: StepSpec, value: Any, turn: Turn) -> tuple[str, Any]:
        return ("photos", len(value)) if value else ("skipped", None)

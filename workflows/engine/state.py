"""The conversation as the engine sees it: a value, stored by the caller between steps."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class ConversationState:
    """`flow`/`step` are None at the main menu. `history` is the steps answered, for `back`;
    `page` is the page of a long option list; `editing` is set after "change" on the summary;
    `sub` marks a second list inside a step; `source` is the deep-link payload that brought them.
    `consent_version` is what the contact last agreed to, so consent is asked once per text.
    `waiting_ticket` is the caller's note (not stored) that an officer asked this citizen a
    question about that ticket, so free text at the menu is the answer. `known_phone` is the
    number they write from when the platform tells it (WhatsApp): offered at the phone
    question, since typing a number is where people on cheap phones slip most. `expired` is
    set when the scheduler tidied an abandoned report away: the expiry note is still owed at
    their next message, as if the report had waited for them. `attaching` is the filed ticket
    the citizen chose to add a photo or document to: their next file goes there."""

    language: str = "id"
    flow: str | None = None
    step: str | None = None
    answers: Mapping[str, Any] = field(default_factory=dict)
    history: tuple[str, ...] = ()
    page: int = 0
    editing: bool = False
    sub: str | None = None
    source: str | None = None
    consent_version: str | None = None
    expires_at: datetime | None = None
    waiting_ticket: int | None = None
    known_phone: str | None = None
    expired: bool = False
    attaching: int | None = None

    def with_answers(self, **updates: Any) -> ConversationState:
        return replace(self, answers={**self.answers, **updates})

    def without_answers(self, *keys: str) -> ConversationState:
        return replace(self, answers={k: v for k, v in self.answers.items() if k not in keys})

    @property
    def pending_attachments(self) -> tuple[int, ...]:
        return tuple(self.answers.get("photos", ()))

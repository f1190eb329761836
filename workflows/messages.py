"""The rendered, channel-agnostic outbound message: what the outbox stores and channels draw."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class RenderedOption:
    value: str
    title: str
    description: str | None = None


@dataclass(frozen=True)
class OutMessage:
    """Text plus choices, in the reader's language. `step` tags the buttons, so a press on an
    old message is recognised; `request` asks the channel for a location or photo button;
    `photo` is an attachment path (under the data dir) to show, with the text as its caption.
    `key` (the template it was rendered from), `params` (its plain values, such as the ticket
    number) and `language` let a channel that must send pre-approved templates (WhatsApp,
    outside its 24-hour window) choose one and fill it."""

    text: str
    options: tuple[RenderedOption, ...] = ()
    step: str | None = None
    request: Literal["location", "photo"] | None = None
    request_label: str | None = None
    photo: str | None = None
    key: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    language: str = "id"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OutMessage:
        options = tuple(RenderedOption(**o) for o in data.get("options", ()))
        return cls(**{**data, "options": options})

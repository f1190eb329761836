"""The normalised inbound event every channel produces."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

EventKind = Literal["text", "choice", "location", "photo", "document", "contact", "unsupported"]


@dataclass(frozen=True)
class Inbound:
    """What the person did, stripped of how their platform encodes it.

    `choice` carries the value of a pressed button and the step it was drawn for, so a press on
    an old message can be told apart from an answer to the current question. `photo` (and
    `document`, a PDF) carries the id of an attachment the caller already checked and stored,
    or why it was refused; none when nothing asked for it, so it was not downloaded.
    """

    kind: EventKind
    text: str | None = None
    value: str | None = None
    step: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    attachment_id: int | None = None
    photo_error: str | None = None
    phone: str | None = None
    media: str | None = None

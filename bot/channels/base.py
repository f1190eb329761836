"""What every channel adapter provides, and how it reports a failed send."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from workflows.messages import OutMessage


class RetryLater(Exception):
    """The platform asked us to wait (429) or failed in passing (5xx, network). `parts_done`:
    of a message said in several requests, how many went out before this; the retry skips them."""

    def __init__(self, seconds: float, reason: str, parts_done: int = 0) -> None:
        super().__init__(reason)
        self.seconds = seconds
        self.reason = reason
        self.parts_done = parts_done


class PermanentFailure(Exception):
    """The message can never be delivered (the person blocked the bot, the chat is gone)."""


class HoldForReply(Exception):
    """The message cannot go out now but can once the person writes again (WhatsApp, outside
    its 24-hour window: a photo, or a template WhatsApp refused). The row waits, held, with
    the reason recorded, and goes out as itself after their next message."""


@dataclass(frozen=True)
class Sent:
    """A delivery with more to record than the platform's message id: it went out as something
    else (`sent_as`, e.g. "template:satupintu_kabar"), which only announced it when `held`:
    the message itself waits for the person's next message, then goes out as itself."""

    external_id: str | None
    sent_as: str | None = None
    held: bool = False


class Sending(Protocol):
    """A channel as the sender sees it."""

    name: str

    async def send(self, chat_id: str, message: OutMessage, skip: int = 0) -> str | Sent | None:
        """Deliver one message, leaving out its first `skip` parts (sent before a retry);
        return the platform's message id (or a `Sent`). Raise RetryLater or
        PermanentFailure; any other exception counts as passing."""
        ...


def masked(chat_id: str) -> str:
    """A chat id as logs may show it: on WhatsApp it is the person's phone number (personal
    data), so only its last digits."""
    return f"…{chat_id[-4:]}" if len(chat_id) > 4 else "…"


def split_text(text: str, limit: int) -> list[str]:
    """Cut a long text into parts of at most `limit` characters, at line ends when possible,
    so nothing is truncated silently."""
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit)
        if cut <= 0:
            cut = rest.rfind(" ", 0, limit)
        if cut <= 0:
            cut = limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip("\n ")
    parts.append(rest)
    return [p for p in parts if p] or [""]

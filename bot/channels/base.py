"""What every channel adapter provides, and how it reports a failed send."""

from __future__ import annotations

from typing import Protocol

from workflows.messages import OutMessage


class RetryLater(Exception):
    """The platform asked us to wait (429) or failed in passing (5xx, network)."""

    def __init__(self, seconds: float, reason: str) -> None:
        super().__init__(reason)
        self.seconds = seconds
        self.reason = reason


class PermanentFailure(Exception):
    """The message can never be delivered (the person blocked the bot, the chat is gone)."""


class Sending(Protocol):
    """A channel as the sender sees it."""

    name: str

    async def send(self, chat_id: str, message: OutMessage) -> str | None:
        """Deliver one message; return the platform's message id. Raise RetryLater or
        PermanentFailure; any other exception counts as passing."""
        ...


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

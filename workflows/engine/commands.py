"""Commands a person may type at any step, in either language, with or without a slash."""

from __future__ import annotations

import re
from dataclasses import dataclass

WORDS = {
    "start": ("start", "mulai"),
    "help": ("help", "bantuan", "tolong"),
    "cancel": ("cancel", "batal"),
    "back": ("back", "kembali"),
    "status": ("status", "cek"),
    "language": ("language", "bahasa"),
}
_BY_WORD = {word: name for name, words in WORDS.items() for word in words}
_TAKES_ARGUMENT = {"start", "status", "language"}


@dataclass(frozen=True)
class Command:
    name: str
    argument: str | None = None


@dataclass(frozen=True)
class UnknownCommand:
    text: str


def parse_command(text: str) -> Command | UnknownCommand | None:
    """A slash always means a command (`/start abc`, `/Mulai@SatupintuBot`); a bare word is a
    command only when it is the whole message, or `status`/`bahasa` plus one word, so an answer
    like "kembali ke rumah" stays an answer."""
    stripped = text.strip()
    if not stripped:
        return None
    words = stripped.split(maxsplit=1)
    head = words[0].lower()
    rest = words[1].strip() if len(words) > 1 else None
    if head.startswith("/"):
        name = _BY_WORD.get(head[1:].split("@", 1)[0])
        if name is None:
            return UnknownCommand(stripped)
        return Command(name, rest if name in _TAKES_ARGUMENT else None)
    name = _BY_WORD.get(re.sub(r"[.!?]+$", "", head))
    if name is None:
        return None
    if rest is None:
        return Command(name)
    if name in ("status", "language") and len(rest.split()) <= 3:
        return Command(name, rest)
    return None

"""Commands a person may type at any step, in any language of the flow book, with or without a slash."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from workflows.engine.words import COMMANDS

_TAKES_ARGUMENT = {"start", "status", "language"}
_BY_NAME = {name: name for name in COMMANDS}


@dataclass(frozen=True)
class Command:
    name: str
    argument: str | None = None


@dataclass(frozen=True)
class UnknownCommand:
    text: str


def parse_command(text: str, words: Mapping[str, str] | None = None) -> Command | UnknownCommand | None:
    """A slash always means a command (`/start abc`, `/Mulai@SatupintuBot`); a bare word is a
    command only when it is the whole message, or `status`/`bahasa` plus one word, so an answer
    like "kembali ke rumah" stays an answer. `words` maps each typed word to its command (the flow
    book's, see `Vocabulary.commands`); without it only the English names are known."""
    by_word = words if words is not None else _BY_NAME
    stripped = text.strip()
    if not stripped:
        return None
    parts = stripped.split(maxsplit=1)
    head = parts[0].lower()
    rest = parts[1].strip() if len(parts) > 1 else None
    if head.startswith("/"):
        name = by_word.get(head[1:].split("@", 1)[0])
        if name is None:
            return UnknownCommand(stripped)
        return Command(name, rest if name in _TAKES_ARGUMENT else None)
    name = by_word.get(re.sub(r"[.!?]+$", "", head))
    if name is None:
        return None
    if rest is None:
        return Command(name)
    if name in ("status", "language") and len(rest.split()) <= 3:
        return Command(name, rest)
    return None

"""The words a person may type instead of pressing a button or typing a slash command.

They come from the office's flow book (`words:` in flows.yaml, per language), so an office can
add a local word without code. Every language's words are understood whatever language the
person chose: someone reading Indonesian may still type "skip".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

COMMANDS = ("start", "help", "cancel", "back", "status", "language", "mydata")
# language → meaning → words, as the flowbook holds them (its keys are Literal types of str)
Words = Mapping[Any, Mapping[Any, Sequence[str]]]


def fold(text: str) -> str:
    """Compare what people type with labels: case, accents and spacing do not matter."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


class Vocabulary:
    """What each typed word means; built once per flow book."""

    def __init__(self, words: Words) -> None:
        meanings: dict[str, set[str]] = {}
        for by_meaning in words.values():
            for meaning, typed in by_meaning.items():
                meanings.setdefault(meaning, set()).update(fold(word) for word in typed)
        self._meanings = {meaning: frozenset(typed) for meaning, typed in meanings.items()}
        # Commands keep their own, older matching (lower case, trailing .!? dropped); their English
        # names always work, since platforms send them (Telegram's /start).
        self.commands = {name: name for name in COMMANDS}
        for meaning in COMMANDS:
            for by_meaning in words.values():
                self.commands.update({word.lower(): meaning for word in by_meaning.get(meaning, ())})

        self._first = {
            language: {meaning: typed[0] for meaning, typed in by_meaning.items() if typed}
            for language, by_meaning in words.items()
        }

    def first(self, language: str, meanings: Iterable[str]) -> dict[str, str]:
        """The word each command is typed as in `language` (the office's first), its English
        name where the office gave none: what the help message tells people to type."""
        own = self._first.get(language, {})
        return {meaning: own.get(meaning, meaning) for meaning in meanings}

    def means(self, text: str, meaning: str) -> bool:
        return fold(text) in self._meanings.get(meaning, ())

    def meaning(self, text: str, among: Iterable[str]) -> str | None:
        """The first of `among` that `text` means, if any."""
        folded = fold(text)
        return next((m for m in among if folded in self._meanings.get(m, ())), None)

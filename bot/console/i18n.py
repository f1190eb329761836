"""The console's words in Indonesian and English.

Pages are written in Indonesian (`{{ _("Antrean") }}`): the words officers read most are the
source text. English comes from gettext catalogues, `templates/console/i18n/*.en.po`, one per
part of the console so translators and reviewers work file by file; Babel reads them at start-up
(no compiled .mo files to forget). A test checks every phrase in the pages has its English.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from babel.messages.pofile import read_po

from workflows.texts import DEFAULT_LANGUAGE, LANGUAGES, TEMPLATES_DIR

CATALOGUES = TEMPLATES_DIR / "console" / "i18n"


def load_catalogue(directory: Path = CATALOGUES, language: str = "en") -> dict[str, str]:
    """Every translated phrase of `language` from the directory's `*.<language>.po` files."""
    found: dict[str, str] = {}
    for path in sorted(directory.glob(f"*.{language}.po")):
        with path.open("rb") as fh:
            catalogue = read_po(fh, locale=language)
        for message in catalogue:
            if message.id and isinstance(message.id, str) and message.string:
                found[message.id] = str(message.string)
    return found


class Words:
    """`gettext` per language; an untranslated phrase shows in Indonesian rather than not at all."""

    def __init__(self, catalogues: Mapping[str, Mapping[str, str]] | None = None) -> None:
        self.catalogues = dict(catalogues) if catalogues is not None else {"en": load_catalogue()}

    def gettext(self, language: str) -> Callable[..., str]:
        table = self.catalogues.get(language, {}) if language != DEFAULT_LANGUAGE else {}

        def translate(phrase: str, **values: object) -> str:
            text = table.get(phrase, phrase)
            return text % values if values else text

        return translate


def pick_language(wanted: str | None) -> str:
    return wanted if wanted in LANGUAGES else DEFAULT_LANGUAGE

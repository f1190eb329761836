"""Every phrase in the console's pages has its English, and the English pages use it."""

from __future__ import annotations

import re

from babel.messages.pofile import read_po

from bot.console.i18n import CATALOGUES, Words, load_catalogue
from workflows.texts import TEMPLATES_DIR

PHRASE = re.compile(r"""\b_\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')""")


def phrases() -> dict[str, str]:
    found = {}
    for path in sorted((TEMPLATES_DIR / "console").rglob("*.html")):
        for match in PHRASE.finditer(path.read_text(encoding="utf-8")):
            found[match.group(1) or match.group(2)] = path.name
    return found


def test_every_phrase_has_english() -> None:
    english = load_catalogue()
    missing = sorted(f"{where}: {phrase}" for phrase, where in phrases().items() if phrase not in english)
    assert not missing, "add these to templates/console/i18n/<part>.en.po:\n" + "\n".join(missing)


def test_catalogues_hold_no_stale_phrases() -> None:
    used = set(phrases())
    stale = sorted(phrase for phrase in load_catalogue() if phrase not in used)
    assert not stale, f"no page uses these any more: {stale}"


def test_a_phrase_has_one_english_in_every_catalogue() -> None:
    """The catalogues are merged: a phrase translated two ways would read one way at random."""
    english: dict[str, set[str]] = {}
    for path in sorted(CATALOGUES.glob("*.en.po")):
        with path.open("rb") as fh:
            for message in read_po(fh, locale="en"):
                if message.id and message.string:
                    english.setdefault(str(message.id), set()).add(str(message.string))
    clashes = {phrase: sorted(found) for phrase, found in english.items() if len(found) > 1}
    assert not clashes, f"word these differently in Indonesian, or agree on the English: {clashes}"


def test_words_fall_back_to_indonesian_and_fill_values() -> None:
    words = Words({"en": {"Antrean %(n)s": "Queue %(n)s"}})
    assert words.gettext("en")("Antrean %(n)s", n=3) == "Queue 3"
    assert words.gettext("id")("Antrean %(n)s", n=3) == "Antrean 3"
    assert words.gettext("en")("Belum diterjemahkan") == "Belum diterjemahkan"
    assert CATALOGUES.is_dir()

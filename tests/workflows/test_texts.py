"""Every message renders in every language, with sample data, and fits the platforms."""

from __future__ import annotations

from datetime import date

import pytest

from workflows.console.samples import SAMPLES, TICKET, sample
from workflows.texts import LANGUAGES, Texts

TEXTS = Texts()


def _sample(key: str) -> dict:
    context = sample(key)
    assert context is not None, f"add a sample context for {key} to workflows/console/samples.py"
    return context


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("key", TEXTS.keys())
def test_every_message_renders(key: str, language: str) -> None:
    text = TEXTS.render(key, language, _sample(key))
    assert text.strip(), key
    assert "{{" not in text and "{%" not in text
    assert len(text) < 4096


@pytest.mark.parametrize("language", LANGUAGES)
def test_status_list_names_the_status_in_words(language: str) -> None:
    text = TEXTS.render("status/list", language, {"tickets": [TICKET], "number": None})
    assert "SP-2026-00042" in text
    assert ("sedang ditangani" if language == "id" else "being handled") in text
    assert text.splitlines()[1].startswith("• SP-2026-00042")  # the heading on its own line
    empty = TEXTS.render("status/list", language, {"tickets": [], "number": "SP-2026-00001"})
    assert "SP-2026-00001" in empty


def test_both_languages_have_the_same_messages() -> None:
    for key in TEXTS.keys():
        for language in LANGUAGES:
            assert TEXTS.has(key, language), f"{key}.{language}.j2 is missing"


@pytest.mark.parametrize("language", LANGUAGES)
def test_button_words_fit_a_whatsapp_button(language: str) -> None:
    names = [
        "status",
        "skip",
        "done",
        "more",
        "back",
        "agree",
        "disagree",
        "unknown",
        "confirm",
        "edit",
        "cancel",
        "send_location",
        "send_photo",
        "lang_id",
        "lang_en",
        "card_accept",
        "card_ask",
        "card_refer",
        "card_resolve",
        "card_reject",
        "card_return",
        "card_referral",
        "card_note",
        "card_reassign",
        "referral_acknowledged",
        "referral_done",
        "referral_declined",
        "rate",
        "not_resolved",
        "mydata",
        "rights_correct",
        "rights_withdraw",
        "rights_erase",
        "rights_done",
        "rights_yes",
        "rights_no",
    ]
    for name in names:
        assert 0 < len(TEXTS.button(name, language)) <= 20, name


def test_dates_read_as_people_say_them() -> None:
    assert TEXTS.long_date(date(2026, 11, 24), "id") == "Selasa, 24 November 2026"
    assert TEXTS.long_date(date(2026, 11, 24), "en") == "Tuesday, November 24, 2026"


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_summary_puts_each_answer_on_its_own_line(language: str) -> None:
    text = TEXTS.render("steps/summary", language, SAMPLES["steps/summary"])
    lines = [line for line in text.splitlines() if line.startswith("• ")]
    assert len(lines) == len(SAMPLES["steps/summary"]["rows"])
    assert lines[0] == "• Nama: Mbah Sarinah"

"""Logs never carry a NIK, a phone number or a name (UU 27/2022): a whole complaint, on
Telegram through the fake Bot API and on the web chat, with every logger at DEBUG, leaves
none of what the citizen typed in the log. A log file is copied, shipped and kept far longer
than a ticket."""

from __future__ import annotations

import logging

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import create_app
from bot.settings import Settings
from tests.support.clock import running_clock
from tests.support.complaint import file_own_complaint
from tests.support.office import BUDI, NUMBER, SITI, Office, card_of
from tests.support.webchat import WebCitizen
from workflows.validation.redaction import redact

NIK, NAME, PHONE = "3471044101500001", "Siti Aminah", "0812 3456 7890"
SECRETS = (NIK, NAME, "Aminah", PHONE, "81234567890", "3456 7890", "34567890", "3456-7890")


def assert_private(caplog: pytest.LogCaptureFixture) -> None:
    # Every record's message, arguments and traceback (not its timestamps or ids, where four
    # digits of the phone number may turn up by chance).
    logged = caplog.text + "".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records)
    for secret in SECRETS:
        assert secret not in logged, f"{secret!r} in the log"


async def test_a_telegram_complaint_worked_by_an_officer_logs_nothing_personal(
    office: Office, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    budi = await office.hire("Budi", BUDI)
    siti = office.person(SITI, "Siti")
    story = f"Saya {NAME}, tinggal sendiri, NIK {NIK}, HP {PHONE}."
    confirmation = await file_own_complaint(siti, name=NAME, nik=NIK, phone=PHONE, story=story)
    number = NUMBER.search(confirmation).group(0)
    await budi.catch_up()
    await budi.press("Terima", card_of(budi, number))
    await budi.press("Tanya warga", card_of(budi, number))
    await budi.type("Apakah Ibu punya KK?")
    await siti.catch_up()
    await siti.type(f"Punya, atas nama {NAME}, nomor {NIK}")
    await budi.catch_up()

    for message in budi.messages:  # nor do the officer's messages, which a phone keeps
        assert NIK not in message.text and "3456 7890" not in message.text and "81234567890" not in message.text
    assert "NIK 3471********0001" in card_of(budi, number).text
    assert f"{number}:\nPertanyaan: Apakah Ibu punya KK?\nJawaban: Punya, atas nama {NAME}, nomor 3471********0001" in (
        budi.messages[-2].text
    )
    assert f"ticket {number} opened" in caplog.text  # the log is on, at DEBUG
    assert logging.getLogger().getEffectiveLevel() == logging.DEBUG
    assert_private(caplog)


async def test_a_web_chat_complaint_logs_nothing_personal(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with TestServer(create_app(settings, clock=running_clock())) as server:
        client = TestClient(server)
        await client.start_server()
        person = WebCitizen(client)
        await person.open()
        confirmation = await person.file_complaint(name=NAME, nik=NIK)
        await client.close()
    number = NUMBER.search(confirmation).group(0)
    assert f"ticket {number} opened" in caplog.text
    assert_private(caplog)


def test_the_safety_net_masks_nik_and_phone_like_numbers_in_any_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Whatever a line quotes (a database error repeats the row's values), numbers are masked."""
    from bot.logs import protect_logs

    protect_logs()
    caplog.set_level(logging.DEBUG)
    logging.getLogger("anything").error("insert failed: (%r, %r)", NIK, "+62 812-3456-7890")
    try:
        raise ValueError(f"bad row {NIK} 081234567890")
    except ValueError:
        logging.getLogger("anything").exception("outbox pass failed")
    assert "3471********0001" in caplog.text and "*********890" in caplog.text
    assert NIK not in caplog.text and "3456" not in caplog.text
    assert redact("ticket SP-2026-00042, outbox 17, update 81234") == "ticket SP-2026-00042, outbox 17, update 81234"

"""The status page: a ticket number plus the phone given at filing, from any device (no chat
cookie), answers in the chat's own words; guessing is throttled and learns nothing."""

from __future__ import annotations

import html
import re

from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from bot.channels.webchat_status import Throttle
from tests.bot.test_webchat import citizen, server
from tests.bot.test_webchat_live import filed

__all__ = ["server"]
ANSWER = re.compile(r'<p id="answer"[^>]*>(.*?)</p>', re.S)


async def ask(server: TestServer, number: str, phone: str, *, lang: str = "id") -> str:
    """The answer shown for one try, from a browser without the chat's cookie."""
    async with ClientSession() as other_device:
        response = await other_device.post(
            server.make_url(f"/status?lang={lang}"), data={"number": number, "phone": phone}
        )
        assert response.status == 200
        assert response.headers["Cache-Control"] == "no-store"
        found = ANSWER.search(await response.text())
        assert found, "no answer on the page"
        return html.unescape(found.group(1)).strip()


async def test_the_status_page_answers_in_the_chats_words(server: TestServer) -> None:
    siti, number = await filed(server)
    await siti.type(f"status {number}")
    in_chat = siti.messages[-2]["text"]
    assert number in in_chat and "diterima" in in_chat
    # The same words as the chat's status, less the chat's offer to add a file (the page takes none).
    answer = await ask(server, number, "0812 3456 7890")
    assert number in answer and in_chat.startswith(answer.rstrip())
    assert await ask(server, number, "+6281234567890") == answer
    assert await ask(server, number.lower().replace("-", " "), "7890") == answer  # as typed on a phone
    assert "received" in await ask(server, number, "7890", lang="en")
    await siti.client.close()


async def test_a_wrong_phone_and_a_missing_ticket_get_the_same_answer(server: TestServer) -> None:
    siti, number = await filed(server)
    wrong_phone = await ask(server, number, "0812 0000 0000")
    wrong_digits = await ask(server, number, "1234")
    no_such_ticket = await ask(server, "SP-2026-09999", "7890")
    assert wrong_phone == wrong_digits == no_such_ticket
    assert number not in wrong_phone and "tidak ditemukan" in wrong_phone
    await siti.client.close()


async def test_five_failures_from_one_address_stop_even_the_right_answer(server: TestServer) -> None:
    siti, number = await filed(server)
    for guess in ("0001", "0002", "0003", "0004", "0005"):
        assert "tidak ditemukan" in await ask(server, number, guess)
    refused = await ask(server, number, "7890")
    assert "Terlalu banyak percobaan" in refused and "diterima" not in refused
    other = await citizen(server)  # the chat itself is not throttled
    await other.type("status")
    assert "belum punya laporan" in other.messages[-2]["text"]
    await siti.client.close()
    await other.client.close()


def test_failures_count_per_ticket_and_are_forgotten_after_the_window() -> None:
    now = [0.0]
    throttle = Throttle(limit=5, window=900, clock=lambda: now[0])
    for address in range(5):  # five devices, one ticket
        throttle.failed(f"address:{address}", "ticket:SP-2026-00001")
    assert throttle.blocked("address:99", "ticket:SP-2026-00001")
    assert not throttle.blocked("address:99", "ticket:SP-2026-00002")
    now[0] = 899.0
    assert throttle.blocked("address:0", "ticket:SP-2026-00001")
    now[0] = 901.0
    assert not throttle.blocked("address:0", "ticket:SP-2026-00001")

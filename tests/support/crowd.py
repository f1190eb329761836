"""Citizens filing a complaint over Telegram all at once, each answering whatever the bot
last asked: the driver of tests that disturb a running server (kill it, take its database
away), and the checks of what each citizen saw afterwards.

A citizen answers a prompt only once it has arrived, with a short think; a prompt that never
comes fails the test with the chat's transcript. What a citizen saw is read from the fake Bot
API's log of the chat, so a message sent twice, or an old prompt after a newer one, is seen
exactly as the person would have seen it.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from storage.db import Database
from storage.models import Contact, InboundMessage, OutboxMessage, Ticket
from tests.fakes.telegram_api import FakeTelegramAPI

# (how the prompt opens, how the citizen answers, with what): the complaint flow from the menu.
SCRIPT: list[tuple[str, str, str]] = [
    ("Apa yang ingin Anda lakukan?", "press", "Pengaduan"),
    ("Sebelum mulai, mohon dibaca", "press", "Setuju"),
    ("Masalahnya tentang apa?", "press", "Gangguan jiwa (ODGJ)"),
    ("Gangguan jiwa (ODGJ): pilih", "press", "ODGJ"),
    ("Laporan ini tentang siapa?", "press", "Orang lain"),
    ("Siapa namanya?", "press", "Lewati"),
    ("Ketik NIK-nya", "press", "Tidak tahu"),
    ("Kira-kira berapa umurnya?", "press", "Lewati"),
    ("Jenis kelaminnya?", "press", "Lewati"),
    ("Di kecamatan mana?", "press", "Mantrijeron"),
    ("Kecamatan Mantrijeron: di desa/kelurahan mana?", "press", "Gedongkiwo"),
    ("Tulis alamatnya", "type", "Depan pasar {n}, di bawah pohon beringin"),
    ("Jika Anda sedang di tempat itu", "type", "Lewati"),
    ("Kirim foto bila ada", "press", "Lewati"),
    ("Ceritakan keadaannya", "type", "Warga {n}: seorang bapak tidur di jalan sejak tiga hari."),
    ("Nomor HP Anda", "press", "Lewati"),
    ("Periksa lagi pengaduan Anda", "press", "Kirim"),
]
TICKET = "Terima kasih, pengaduan Anda sudah kami terima."
DONE = len(SCRIPT)  # the ticket's place in the order of a chat's messages


def place(text: str) -> int | None:
    """Which prompt of the script a message is (DONE for the ticket), None for another."""
    if text.startswith(TICKET):
        return DONE
    return next((i for i, (opening, _, _) in enumerate(SCRIPT) if text.startswith(opening)), None)


@dataclass
class Citizen:
    fake: FakeTelegramAPI
    user_id: int
    rng: random.Random
    answered: int = 0  # prompts answered so far
    last_seen: int = 0  # the message id of the prompt answered last
    updates: list[int] = field(default_factory=list)

    def answer_of(self, index: int) -> str:
        return SCRIPT[index][2].format(n=self.user_id)

    async def file(self, seconds: float) -> None:
        """The whole complaint, from /start to the ticket's number."""
        deadline = time.monotonic() + seconds
        self.updates.append((await self.fake.send_text(self.user_id, "/start"))["update_id"])
        while self.answered < DONE:
            prompt = await self._next_prompt(deadline)
            await asyncio.sleep(self.rng.uniform(0.0, 0.15))
            _, how, _ = SCRIPT[self.answered]
            answer = self.answer_of(self.answered)
            if how == "press":
                buttons = {
                    b["text"]: b.get("callback_data", "")
                    for row in (prompt.reply_markup or {}).get("inline_keyboard", [])
                    for b in row
                }
                assert answer in buttons, f"{self.user_id}: no {answer!r} on {prompt.text!r}"
                update = await self.fake.press_button(self.user_id, prompt.message_id, buttons[answer], check=False)
            else:
                update = await self.fake.send_text(self.user_id, answer)
            self.updates.append(update["update_id"])
            self.last_seen = prompt.message_id
            self.answered += 1
        await self._wait_for(lambda m: place(m.text or "") == DONE, deadline, "the ticket's number")

    async def _next_prompt(self, deadline: float) -> Any:
        opening = SCRIPT[self.answered][0]
        return await self._wait_for(lambda m: (m.text or "").startswith(opening), deadline, repr(opening))

    async def _wait_for(self, wanted: Any, deadline: float, what: str) -> Any:
        while True:
            found = [m for m in self.fake.sent(self.user_id) if m.message_id > self.last_seen and wanted(m)]
            if found:
                return found[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"citizen {self.user_id} never got {what}:\n{self.fake.transcript(self.user_id)}")
            await asyncio.sleep(0.05)


@dataclass
class UnknownFate:
    """Messages found handed over but not marked sent once a server was gone: these alone
    may reach a citizen twice (nobody can know whether the platform got them)."""

    texts: Counter[tuple[str, str]] = field(default_factory=Counter)

    def note(self, db: Database) -> None:
        rows = db.run_sync(
            lambda s: s.execute(
                select(OutboxMessage.chat_id, OutboxMessage.payload).where(
                    OutboxMessage.status == "sending", OutboxMessage.handed_at.is_not(None)
                )
            ).all()
        )
        for chat_id, payload in rows:
            self.texts[(chat_id, payload["text"])] += 1


def check_chat(citizen: Citizen, unknown: UnknownFate) -> None:
    """What the citizen saw: every prompt, in the flow's order, none again after a later one
    (an answer stored is never asked again), each once unless it was of unknown fate at a kill,
    and the ticket's number."""
    transcript = citizen.fake.transcript(citizen.user_id)
    texts = [m.text or "" for m in citizen.fake.sent(citizen.user_id)]
    seen = [(place(t), t) for t in texts]
    seen = [(p, t) for p, t in seen if p is not None]
    end = next(i for i, (p, _) in enumerate(seen) if p == DONE)
    before = [p for p, _ in seen[:end]]
    assert before == sorted(before), f"citizen {citizen.user_id} was asked an earlier question again:\n{transcript}"
    assert set(before) == set(range(DONE)), f"citizen {citizen.user_id} missed a prompt:\n{transcript}"
    # After the ticket only the menu comes again, once.
    counts = Counter([t for _, t in seen[: end + 1]] + [t for p, t in seen[end + 1 :] if p == DONE])
    for text, count in counts.items():
        if count > 1:
            allowed = unknown.texts[(str(citizen.user_id), text)]
            assert count <= 1 + allowed, f"citizen {citizen.user_id} got {text[:40]!r} {count} times:\n{transcript}"


def check_records(db: Database, citizens: list[Citizen]) -> None:
    """One ticket each with every answer kept, and every update the citizens sent handled."""
    handled = set(db.run_sync(lambda s: s.execute(select(InboundMessage.message_id)).scalars().all()))
    for citizen in citizens:
        lost = [u for u in citizen.updates if f"u{u}" not in handled]
        assert not lost, f"citizen {citizen.user_id}: updates {lost} were never handled"
        chat = str(citizen.user_id)
        tickets = db.run_sync(
            lambda s, chat=chat: (
                s.execute(
                    select(Ticket)
                    .join(Contact, Contact.id == Ticket.reporter_contact_id)
                    .where(Contact.chat_id == chat)
                )
                .scalars()
                .all()
            )
        )
        assert len(tickets) == 1, f"citizen {citizen.user_id} has {len(tickets)} tickets"
        [ticket] = tickets
        assert (ticket.category, ticket.village_code) == ("odgj", "34.71.01.1001")
        assert ticket.address == citizen.answer_of(11)
        assert ticket.description == citizen.answer_of(14)

"""The staff console under test: the real app behind aiohttp's test client, staff with
passwords, tickets filed straight through the case workflow, and a signed-in client that
carries its CSRF token like the pages do."""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from bot.app import create_app
from bot.console.core import CONSOLE
from bot.settings import Settings
from storage import repo
from storage.db import Database
from storage.models import Staff, Ticket
from tests.support.clock import MovableClock
from workflows import audit, signin
from workflows import staff as records
from workflows.services import Services

UMBULHARJO, MANTRIJERON = "34.71.04", "34.71.01"
PASSWORD = "kata-sandi-rahasia-1"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


_citizens = itertools.count(1)


@dataclass
class Staffing:
    """A running office's database, workflows and clock, for arranging a test's world: staff
    with passwords, tickets filed through the real case workflow."""

    db: Database
    services: Services
    clock: Callable[[], datetime]

    async def hire(
        self,
        name: str,
        *,
        role: str = "officer",
        username: str | None = None,
        districts: tuple[str, ...] = (UMBULHARJO,),
        telegram_user_id: str | None = None,
        language: str = "id",
    ) -> Staff:
        """A staff member with a password (username: the name in lower case)."""
        book = self.services.book

        def add(session: Any) -> Staff:
            scope = records.check_scope(book, role=role, team=None, districts=districts, categories=())
            staff = records.add_staff(
                session,
                book=book,
                name=name,
                scope=scope,
                telegram_user_id=telegram_user_id,
                whatsapp_number=None,
                language=language,
                by=audit.CLI,
                now=self.clock(),
            )
            signin.set_password(
                session,
                staff=staff,
                username=username or name.lower().replace(" ", "."),
                password=PASSWORD,
                by=audit.CLI,
                now=self.clock(),
            )
            return staff

        return await self.db.run(add)

    async def file(
        self,
        *,
        district: str = UMBULHARJO,
        village: str | None = None,
        category: str = "lansia_telantar",
        kind: str = "complaint",
        description: str = "Nenek tinggal sendiri, belum makan dua hari.",
        **answers: Any,
    ) -> Ticket:
        """A ticket filed as the chat files it (routing, service standards, first event)."""
        village = village or f"{district}.1001"
        services = self.services

        def open_(session: Any) -> Ticket:
            citizen = f"w-test-{next(_citizens)}"  # a citizen of their own per ticket
            contact = repo.get_or_create_contact(
                session,
                channel="web",
                external_id=citizen,
                chat_id=citizen,
                language="id",
                display_name="Warga",
                now=self.clock(),
            )
            flow = "complaint" if kind == "complaint" else "service"
            group = services.book.category(kind, category)
            assert group is not None, category
            full = {
                "category_group": group[0].key,
                "category": category,
                "subject": "other",
                "person_name": "Mbah Sarinah",
                "person_nik": "3471045507450001",
                "person_age": 80,
                "person_sex": "P",
                "district_code": district,
                "village_code": village,
                "address": "Jl. Kenanga 3",
                "location": {"lat": -7.8305, "lon": 110.392},
                "description": description,
                "reporter_phone": "+6281234567890",
                **answers,
            }
            return services.casework.open(session, contact=contact, flow=flow, answers=full, now=self.clock())

        return await self.db.run(open_)


@dataclass
class ConsoleOffice(Staffing):
    """The app, its database, clock and workflows, and a plain (signed-out) client."""

    clock: MovableClock
    client: TestClient = field(kw_only=True)

    async def signed_in(self, staff: Staff, *, username: str | None = None) -> SignedInClient:
        """Another browser (its own cookies) on the same server, signed in with the staff
        member's password."""
        client = TestClient(self.client.server)
        page = await client.get("/console/signin")
        token = CSRF.search(await page.text()).group(1)  # type: ignore[union-attr]
        answer = await client.post(
            "/console/signin",
            data={"csrf": token, "username": username or staff.username, "password": PASSWORD, "next": "/console/"},
            allow_redirects=False,
        )
        assert answer.status == 303, await answer.text()
        return SignedInClient(client, staff)


@dataclass
class SignedInClient:
    client: TestClient
    staff: Staff

    async def csrf(self, path: str = "/console/account") -> str:
        page = await self.client.get(path)
        match = CSRF.search(await page.text())
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    async def get(self, path: str, **kwargs: Any) -> Any:
        return await self.client.get(path, **kwargs)

    async def post(self, path: str, data: Mapping[str, Any] | Any, **kwargs: Any) -> Any:
        """Post a form with this session's CSRF token, as the page's form would."""
        token = await self.csrf()
        if isinstance(data, Mapping):
            data = {"csrf": token, **data}
        return await self.client.post(path, data=data, allow_redirects=kwargs.pop("allow_redirects", False), **kwargs)

    async def close(self) -> None:
        """Close this browser's connections only; the server and app go on for the test."""
        await self.client.session.close()


@asynccontextmanager
async def console_office(settings: Settings, clock: MovableClock) -> AsyncIterator[ConsoleOffice]:
    app = create_app(settings, clock=clock)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield ConsoleOffice(app[CONSOLE].db, app[CONSOLE].services, clock, client=client)
    finally:
        await client.close()

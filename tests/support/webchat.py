"""A citizen on the web chat, driven through its HTTP API like the page's script does."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import FormData
from aiohttp.test_utils import TestClient
from PIL import Image

from storage import outbox
from storage.db import Database

HEADERS = {"X-Satupintu-Chat": "1"}


def queue_reply(db: Database, chat_id: str, text: str) -> int:
    """A reply to a web chat queued straight into the outbox, as any job of the app queues one."""
    [queued] = db.run_sync(
        outbox.enqueue_many,
        channel="web",
        chat_id=chat_id,
        contact_id=None,
        payloads=[{"text": text}],
        now=datetime.now(UTC),
    )
    return queued


def jpeg(size: tuple[int, int] = (320, 240), colour: tuple[int, int, int] = (30, 120, 200)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "JPEG")
    return buffer.getvalue()


class WebCitizen:
    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.after = 0
        self.messages: list[dict[str, Any]] = []

    @property
    def last(self) -> dict[str, Any]:
        return self.messages[-1]

    @property
    def text(self) -> str:
        return self.last["text"]

    async def open(self) -> None:
        response = await self.client.get("/")
        assert response.status == 200

    async def _receive(self, response: Any) -> list[dict[str, Any]]:
        assert response.status == 200, await response.text()
        body = await response.json()
        self.after = body["last_id"]
        self.messages += body["messages"]
        return body["messages"]

    async def post(self, body: dict[str, Any], client_id: str | None = None) -> list[dict[str, Any]]:
        payload = {"client_id": client_id or uuid.uuid4().hex, "after": self.after, **body}
        return await self._receive(await self.client.post("/api/chat/send", json=payload, headers=HEADERS))

    async def type(self, text: str, client_id: str | None = None) -> list[dict[str, Any]]:
        return await self.post({"text": text}, client_id)

    async def press(self, value: str) -> list[dict[str, Any]]:
        offered = [o["value"] for o in self.last["options"]]
        assert value in offered, f"{value!r} not offered in {self.last}"
        return await self.post({"value": value, "step": self.last["step"]})

    async def press_title(self, title: str) -> list[dict[str, Any]]:
        found = [o["value"] for o in self.last["options"] if o["title"] == title]
        assert found, f"no button {title!r} in {self.last}"
        return await self.press(found[0])

    async def location(self, latitude: float, longitude: float) -> list[dict[str, Any]]:
        return await self.post({"latitude": latitude, "longitude": longitude})

    async def photo(self, data: bytes, filename: str = "foto.jpg") -> list[dict[str, Any]]:
        form = FormData()
        form.add_field("client_id", uuid.uuid4().hex)
        form.add_field("after", str(self.after))
        form.add_field("photo", data, filename=filename, content_type="image/jpeg")
        return await self._receive(await self.client.post("/api/chat/photo", data=form, headers=HEADERS))

    async def begin_complaint(
        self, group: str = "lansia", kind: str = "lansia_telantar", subject: str = "other"
    ) -> None:
        """Start a complaint, agree if asked, and answer its category and subject."""
        await self.type("/mulai")
        await self.press("complaint")
        if self.last["step"] == "consent":
            await self.press("agree")
        await self.press(group)
        await self.press(kind)
        await self.press(subject)

    async def file_complaint(
        self, name: str = "Mbah Sarinah", photo: bytes | None = None, nik: str | None = None
    ) -> str:
        """The whole complaint flow with good answers; returns the confirmation text. With a
        NIK the report is about the citizen themselves, else about a neighbour."""
        await self.begin_complaint(subject="self" if nik else "other")
        await self.type(name)
        await self.type(nik or "tidak tahu")
        await self.type("80")
        await self.press("P")
        await self.press("34.71.04")
        await self.press("34.71.04.1001")
        await self.type("Jl. Imogiri Timur RT 03, dekat masjid")
        await self.location(-7.8305, 110.3920)
        if photo is not None:
            await self.photo(photo)
            await self.press("done")
        else:
            await self.press("skip")
        await self.type("Nenek tinggal sendiri dan tidak ada yang merawat sejak bulan lalu.")
        await self.type("0812 3456 7890")
        assert self.last["step"] == "summary", self.last
        replies = await self.press("confirm")
        return replies[0]["text"]

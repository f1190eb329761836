"""A local fake of an SMS gateway: the Android phone gateway ("SMS Gateway for Android",
capcom6/android-sms-gateway, local server mode) or a generic "POST to this URL" one, so the
SMS channel can be tested end to end over real HTTP.

    async with FakeSmsGateway("android") as fake:        # or "generic"
        fake.webhook_url = f"{app_url}/sms/inbound"        # where the phone posts what it receives
        ...                                                # the app posts to fake.url
        [sms] = await fake.wait_for("+6281234567890", 1)   # what the app sent to that number
        await fake.receive("+6281234567890", "Tidak ada")  # she answers: a signed webhook to the app

What real gateways and phones trip over is enforced: the credentials (basic auth for the
Android gateway, a bearer token for the generic one), E.164 recipients, and the size of one
SMS: a request whose text does not fit one SMS (160 GSM-7 septets, extension characters
counting two, or 70 UCS-2 code units) is refused with 400, so a channel that sends long texts
whole fails here. Webhooks are signed as the Android app signs them (`X-Signature`: hex
HMAC-SHA256 of the raw body followed by `X-Timestamp`), or carry the generic gateway's shared
secret in `X-Webhook-Secret`. `fail_next` injects an HTTP status for the next sends.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
from aiohttp import web

# GSM 03.38, written out independently of the app's table: basic alphabet, then extension.
SEPTET = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
ESCAPED = "\f^{}\\[~]|€"
E164 = re.compile(r"\+[1-9]\d{7,14}")


def sms_size(text: str) -> tuple[str, int]:
    """("gsm", septets) or ("ucs2", code units) of a text, and so which limit it has."""
    if all(c in SEPTET or c in ESCAPED for c in text):
        return "gsm", len(text) + sum(c in ESCAPED for c in text)
    return "ucs2", len(text.encode("utf-16-le")) // 2


@dataclass
class Sms:
    """One SMS the app handed to the gateway."""

    id: str
    to: str
    text: str
    encoding: str
    posted_as: str  # "json" or "form"


@dataclass
class FakeSmsGateway:
    kind: Literal["android", "generic"] = "android"
    username: str = "sms"
    password: str = "rahasia-ponsel"
    token: str = "token-gateway"
    secret: str = "kunci-webhook-rahasia"
    webhook_url: str | None = None
    sent: list[Sms] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)
    _failures: list[int | None] = field(default_factory=list)  # None: that send goes through
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _arrived: asyncio.Condition | None = None
    _runner: web.AppRunner | None = None
    _http: aiohttp.ClientSession | None = None
    url: str = ""

    async def __aenter__(self) -> FakeSmsGateway:
        app = web.Application()
        app.router.add_post("/message", self._android_send)
        app.router.add_post("/send", self._generic_send)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}" + ("" if self.kind == "android" else "/send")
        self._arrived = asyncio.Condition()
        self._http = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._http is not None and self._runner is not None
        await self._http.close()
        await self._runner.cleanup()

    # ------------------------------------------------------------------ the app sends
    def fail_next(self, status: int, times: int = 1, after: int = 0) -> None:
        """Answer `status` to `times` sends, once `after` more have gone through."""
        self._failures.extend([None] * after + [status] * times)

    async def _android_send(self, request: web.Request) -> web.Response:
        expected = "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return web.json_response({"message": "Unauthorized"}, status=401)
        body = await request.json()
        numbers = body.get("phoneNumbers")
        if not isinstance(numbers, list) or len(numbers) != 1:
            return self._refuse(400, "phoneNumbers: one recipient expected")
        return await self._accept(numbers[0], body.get("message"), "json")

    async def _generic_send(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"error": "bad token"}, status=401)
        posted_as = "json" if request.content_type == "application/json" else "form"
        body = await request.json() if posted_as == "json" else dict(await request.post())
        return await self._accept(body.get("to"), body.get("message"), posted_as)

    async def _accept(self, number: Any, text: Any, posted_as: str) -> web.Response:
        failure = self._failures.pop(0) if self._failures else None
        if failure is not None:
            return self._refuse(failure, "injected failure")
        if not isinstance(number, str) or not E164.fullmatch(number):
            return self._refuse(400, f"not an E.164 number: {number!r}")
        if not isinstance(text, str) or not text:
            return self._refuse(400, "empty message")
        encoding, size = sms_size(text)
        limit = 160 if encoding == "gsm" else 70
        if size > limit:
            return self._refuse(400, f"{encoding} text of {size} does not fit one SMS ({limit})")
        sms = Sms(f"m{next(self._ids)}", number, text, encoding, posted_as)
        assert self._arrived is not None
        async with self._arrived:
            self.sent.append(sms)
            self._arrived.notify_all()
        return web.json_response(
            {"id": sms.id, "state": "Pending", "recipients": [{"phoneNumber": number}]}, status=202
        )

    def _refuse(self, status: int, reason: str) -> web.Response:
        self.refused.append((status, reason))
        return web.json_response({"message": reason}, status=status)

    def to(self, number: str) -> list[Sms]:
        return [sms for sms in self.sent if sms.to == number]

    async def wait_for(self, number: str, count: int, timeout: float = 10.0) -> list[Sms]:
        """The first `count` SMS to `number`, once that many arrived."""
        assert self._arrived is not None
        async with self._arrived:
            await asyncio.wait_for(self._arrived.wait_for(lambda: len(self.to(number)) >= count), timeout)
        return self.to(number)[:count]

    # ------------------------------------------------------------------ people write
    def webhook(self, number: str, text: str) -> bytes:
        """The body the gateway posts for one received SMS."""
        if self.kind == "android":
            event = {
                "deviceId": "ffffffffceb0b1db0000018e937c815b",
                "event": "sms:received",
                "id": f"ev{next(self._ids)}",
                "payload": {
                    "messageId": hashlib.sha1(text.encode()).hexdigest()[:12],  # by content: not unique
                    "message": text,
                    "phoneNumber": number,
                    "simNumber": 1,
                    "receivedAt": "2026-12-03T10:00:00.000+07:00",
                },
                "webhookId": "wh1",
            }
        else:
            event = {"id": f"in{next(self._ids)}", "from": number, "message": text}
        return json.dumps(event).encode()

    def headers(self, body: bytes, *, key: str | None = None, at: float | None = None) -> dict[str, str]:
        """How the gateway proves the request is its own: signed, or with the shared secret."""
        key = self.secret if key is None else key
        if self.kind == "generic":
            return {"X-Webhook-Secret": key, "Content-Type": "application/json"}
        stamp = str(int(time.time() if at is None else at))
        signature = hmac.new(key.encode(), body + stamp.encode(), hashlib.sha256).hexdigest()
        return {"X-Signature": signature, "X-Timestamp": stamp, "Content-Type": "application/json"}

    async def post(self, body: bytes, headers: dict[str, str], url: str | None = None) -> int:
        """Post a webhook body as the gateway does; the app's HTTP status."""
        assert self._http is not None and (url or self.webhook_url)
        async with self._http.post(url or self.webhook_url, data=body, headers=headers) as response:  # type: ignore[arg-type]
            return response.status

    async def receive(self, number: str, text: str) -> bytes:
        """Someone texts the office's phone; the gateway posts it (the body, to post again)."""
        body = self.webhook(number, text)
        status = await self.post(body, self.headers(body))
        assert status == 200, status
        return body

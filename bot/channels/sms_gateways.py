"""The HTTP SMS gateways the SMS channel talks to, each as how it sends one SMS, how its
webhook proves who posted it, and how it reads the messages in it. Pure but for `send`.

`android`: "SMS Gateway for Android" (capcom6/android-sms-gateway), a phone at the office
running its local server (or its cloud or private server). Out: `POST <url>/message` with
basic auth and `{"message", "phoneNumbers"}`. In: its `sms:received` webhook, signed as its
documentation says: `X-Signature` is the hex HMAC-SHA256, with the signing key set in the
app (Settings → Webhooks), of the raw body followed by `X-Timestamp` (Unix seconds); we take
it only within five minutes of our clock, so a captured request cannot be replayed later.
The event's own `id` names the delivery (the app retries with it); the SMS's `messageId` is
a hash of its content, which the app says is not unique, so it is not used.

`generic`: any gateway that can "POST this to that URL". Out: `{"to", "message"}` as JSON
(or a form) to the URL, with `Authorization: Bearer <token>` when one is set. In: `{"from",
"message", "id"}` (or `received_at` when the gateway gives no id) as JSON or a form, with the
shared secret in the `X-Webhook-Secret` header or as the last segment of the webhook's path,
for gateways that can set only a URL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qsl

import aiohttp

SIGNATURE, TIMESTAMP, SECRET_HEADER = "X-Signature", "X-Timestamp", "X-Webhook-Secret"
SIGNATURE_AGE = 300  # seconds a signed webhook may be old (or early: clocks differ)


class GatewayError(Exception):
    """The gateway refused or failed a send: its HTTP status (0: it could not be reached)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status} {detail}")
        self.status, self.detail = status, detail


@dataclass(frozen=True)
class Received:
    """One SMS from a person: the number as the gateway gave it, the text, and the id that
    names this delivery (the same when the gateway delivers it again)."""

    number: str
    text: str
    delivery_id: str


class Gateway(Protocol):
    @property
    def name(self) -> str:
        """ "android" or "generic", for the log."""
        ...

    async def send(self, http: aiohttp.ClientSession, number: str, text: str) -> str | None:
        """Hand one SMS (at most one SMS long) to the gateway; its id for the message."""
        ...

    def authentic(self, headers: Mapping[str, str], path_secret: str | None, body: bytes, now: float) -> bool:
        """Whether the webhook request comes from the gateway, before anything in it is read."""
        ...

    def read(self, body: bytes, content_type: str) -> list[Received]:
        """The messages in a webhook request (none for its other events); ValueError when it
        cannot be read."""
        ...


@dataclass(frozen=True)
class AndroidGateway:
    url: str
    username: str
    password: str
    signing_key: str
    name: str = "android"

    async def send(self, http: aiohttp.ClientSession, number: str, text: str) -> str | None:
        body = {"message": text, "phoneNumbers": [number]}
        credentials = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        headers = {"Authorization": f"Basic {credentials}"}
        answer = await _post(http, f"{self.url.rstrip('/')}/message", json=body, headers=headers)
        return str(answer["id"]) if isinstance(answer, dict) and answer.get("id") else None

    def authentic(self, headers: Mapping[str, str], path_secret: str | None, body: bytes, now: float) -> bool:
        signature, timestamp = headers.get(SIGNATURE, ""), headers.get(TIMESTAMP, "")
        if not signature or not timestamp.isdigit() or abs(now - int(timestamp)) > SIGNATURE_AGE:
            return False
        expected = hmac.new(self.signing_key.encode(), body + timestamp.encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(signature.strip().lower().encode(), expected.encode())

    def read(self, body: bytes, content_type: str) -> list[Received]:
        event = json.loads(body)
        if not isinstance(event, dict):
            raise ValueError("not an event")
        if event.get("event") != "sms:received":  # sms:sent, sms:delivered, system:ping ...
            return []
        payload = event.get("payload")
        if not isinstance(payload, dict) or not event.get("id") or not payload.get("phoneNumber"):
            raise ValueError("sms:received without id or phoneNumber")
        return [Received(str(payload["phoneNumber"]), str(payload.get("message") or ""), str(event["id"]))]


@dataclass(frozen=True)
class GenericGateway:
    url: str
    token: str | None
    secret: str
    form: bool = False  # post the outbound SMS as a form rather than JSON
    name: str = "generic"

    async def send(self, http: aiohttp.ClientSession, number: str, text: str) -> str | None:
        body = {"to": number, "message": text}
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        sent = {"data": body} if self.form else {"json": body}
        answer = await _post(http, self.url, headers=headers, **sent)
        found = (answer.get("id") or answer.get("message_id")) if isinstance(answer, dict) else None
        return str(found) if found else None

    def authentic(self, headers: Mapping[str, str], path_secret: str | None, body: bytes, now: float) -> bool:
        given = path_secret if path_secret is not None else headers.get(SECRET_HEADER, "")
        return bool(given) and hmac.compare_digest(given.encode(), self.secret.encode())

    def read(self, body: bytes, content_type: str) -> list[Received]:
        if content_type == "application/x-www-form-urlencoded":
            fields: Any = dict(parse_qsl(body.decode(), keep_blank_values=True))
        else:
            fields = json.loads(body)
        if not isinstance(fields, dict) or not fields.get("from"):
            raise ValueError("no sender")
        number, text = str(fields["from"]), str(fields.get("message") or fields.get("text") or "")
        if fields.get("id"):
            return [Received(number, text, str(fields["id"]))]
        if fields.get("received_at"):  # no id: the same SMS is the same sender, text and time
            digest = hashlib.sha256(f"{number}\n{fields['received_at']}\n{text}".encode()).hexdigest()[:40]
            return [Received(number, text, f"h:{digest}")]
        raise ValueError("neither id nor received_at")


async def _post(http: aiohttp.ClientSession, url: str, **kwargs: Any) -> Any:
    try:
        async with http.post(url, **kwargs) as response:
            text = await response.text()
            if response.status >= 400:
                raise GatewayError(response.status, text[:300])
    except (TimeoutError, aiohttp.ClientError) as error:
        raise GatewayError(0, repr(error)) from error
    try:
        return json.loads(text) if text else {}
    except ValueError:
        return {}

"""A local fake of the WhatsApp Cloud API (Meta Graph API), so the app's WhatsApp channel can be
tested end to end.

Why a server and not a mock: the channel's own request building, Graph error parsing, webhook
signature check, two-step media download and status handling are part of what we want to prove,
and they only run when a real HTTP server answers and real signed webhooks arrive. This one
listens on 127.0.0.1 (a free port) and speaks the Cloud API wire format::

    async with FakeGraphAPI() as fake:
        fake.webhook_url = f"{app_url}/whatsapp/webhook"       # where the "users" write to
        ...                                                    # the app calls fake.api_base_url
        await fake.send_text("6281234567890", "halo")          # Siti writes: a signed POST to the app
        [reply] = await fake.wait_for_sent("6281234567890", 1) # what the app answered
        await fake.press_button("6281234567890", "yes")        # she taps one of its reply buttons

The test plays the users (``send_text``, ``press_button``, ``select_row``, ``send_image`` ...,
or any envelope from the builders through ``deliver``); the app calls the API. What real apps
trip over is enforced: the access token, text and caption lengths, reply-button and list limits,
template names and parameter counts, and the 24-hour customer service window (as error 131047).
Failures (130429, 131056, 131026, 5xx ...) can be injected with ``fail_next``.

Where this follows the documentation rather than a first guess:

* HTTP statuses are those of Meta's error-codes table (developers.facebook.com/documentation/
  business-messaging/whatsapp/support/error-codes): throughput (130429) and pair rate (131056)
  limits answer 400, not 429; an unknown template answers 404; 131000 answers 500.
* 131047 (window closed): the table lists it with HTTP 400, and Meta says errors come back
  "synchronously ..., asynchronously via webhook, or sometimes through both". In practice Cloud
  API accepts the send (200 and a wamid) and then posts a ``failed`` status whose errors[] carry
  131047 (the shape public integrations handle, with ``error_data.details`` and ``href``), so
  ``window_error="status"`` is the default; ``window_error="response"`` answers 400 instead.
* Location request messages take a body and the send-location action only: the docs say they
  "display only body text and a send location button", so a header or footer is refused.
* Status webhooks carry PMP pricing (``pricing_model: "PMP"``, with ``type``) as after July
  2025, and a ``conversation`` object except on ``read`` and ``failed`` (whether it is still sent
  depends on the webhook version).

Known simplifications: messages can be sent only as text, interactive (button, list,
location_request_message), template (body text parameters and quick-reply buttons), image,
location and reaction; other types are refused with 131051 naming the fake. Error details for
limits Meta's observed messages do not cover follow their pattern ("... length invalid. Min
length: 1, Max length: 20"). An image ``id`` must be one this fake knows (uploaded or added);
a ``link`` is not fetched. Lengths are counted in code points. There is no BSUID/username model.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import hmac
import itertools
import json
import re
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
from aiohttp import web

JSON = dict[str, Any]
_Status = Literal["sent", "delivered", "read", "failed"]
SIGNATURE_HEADER = "X-Hub-Signature-256"
WABA_ID = "1000000000000009"  # the WhatsApp Business Account id in every envelope's entry[].id
WINDOW_SECONDS = 24 * 3600
MEDIA_URL_TTL = 5 * 60  # "the URL is only valid for 5 minutes"
ERROR_CODES_URL = "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"
TEXT_LIMIT, CAPTION_LIMIT, HEADER_FOOTER_LIMIT = 4096, 1024, 60
BUTTON_BODY_LIMIT, LIST_BODY_LIMIT = 1024, 4096
BUTTON_TITLE_LIMIT, BUTTON_ID_LIMIT, MAX_BUTTONS = 20, 256, 3
LIST_BUTTON_LIMIT, MAX_SECTIONS, MAX_ROWS = 20, 10, 10
ROW_TITLE_LIMIT, ROW_DESCRIPTION_LIMIT, ROW_ID_LIMIT, SECTION_TITLE_LIMIT = 24, 72, 200, 24
STATUS_DELAY = 0.05  # statuses follow the send's response, as they do from Meta

# code -> (HTTP status, title, details used when a test injects the code). Statuses and titles
# from Meta's error-codes table; 132000 and 132001 carry the message text Meta actually answers.
_CODES: dict[int, tuple[int, str, str]] = {
    1: (400, "API Unknown", "Invalid request or possible server error."),
    2: (503, "API Service", "Temporary due to downtime or due to being overloaded."),
    4: (400, "API Too Many Calls", "The app has reached its API call rate limit."),
    100: (400, "Invalid parameter", "The request included one or more unsupported or misspelled parameters."),
    190: (401, "Invalid OAuth access token - Cannot parse access token", ""),
    80007: (400, "Rate limit issues", "The WhatsApp Business Account has reached its rate limit."),
    130429: (400, "Rate limit hit", "Cloud API message throughput has been reached."),
    131000: (500, "Something went wrong", "Message failed to send due to an unknown error."),
    131008: (400, "Required parameter is missing", "The request is missing a required parameter."),
    131009: (400, "Parameter value is not valid", "One or more parameter values are invalid."),
    131016: (500, "Service unavailable", "A service is temporarily unavailable."),
    131021: (400, "Recipient cannot be sender", "Sender and recipient phone number is the same."),
    131026: (400, "Message Undeliverable", "Unable to deliver message."),
    131047: (
        400,
        "Re-engagement message",
        "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
    ),
    131048: (
        400,
        "Spam rate limit hit",
        "Message failed to send because there are restrictions on how many "
        "messages can be sent from this phone number.",
    ),
    131051: (400, "Unsupported message type", "Unsupported message type."),
    131053: (400, "Media upload error", "Unable to upload the media used in the message."),
    131056: (
        400,
        "(Business Account, Consumer Account) pair rate limit hit",
        "Message failed to send because there were too many messages sent from this phone number "
        "to the same phone number in a short period of time.",
    ),
    132000: (
        400,
        "Number of parameters does not match the expected number of params",
        "The number of variable parameter values included in the request did not match the number "
        "of variable parameters defined in the template.",
    ),
    132001: (
        404,
        "Template name does not exist in the translation",
        "The template does not exist in the specified language or the template has not been approved.",
    ),
}
# Uploadable media types and their size limits ("Supported media types").
_MEDIA_LIMITS = {
    "image/jpeg": 5 << 20,
    "image/png": 5 << 20,
    "image/webp": 500 << 10,
    "audio/aac": 16 << 20,
    "audio/amr": 16 << 20,
    "audio/mpeg": 16 << 20,
    "audio/mp4": 16 << 20,
    "audio/ogg": 16 << 20,
    "video/mp4": 16 << 20,
    "video/3gpp": 16 << 20,
    "text/plain": 100 << 20,
    "application/pdf": 100 << 20,
}
_PARAM_WHITESPACE = re.compile(r"[\n\t]| {5,}")
_URL = re.compile(r"^https?://\S+$")


class GraphError(Exception):
    """A Graph API failure, answered as ``{"error": {...}}`` with the HTTP status Meta uses.

    ``details`` becomes ``error_data.details`` (omitted when None, as for Graph-level errors)."""

    def __init__(
        self,
        code: int,
        details: str | None = None,
        *,
        http_status: int | None = None,
        message: str | None = None,
        kind: str = "OAuthException",
        subcode: int | None = None,
    ) -> None:
        status, self.title, _ = _CODES.get(code, (400, "Unknown error", ""))
        self.code, self.details, self.kind, self.subcode = code, details, kind, subcode
        self.message = message or f"(#{code}) {self.title}"
        self.http_status = http_status or status
        super().__init__(f"{self.message}: {details}" if details else self.message)

    @classmethod
    def injected(cls, code: int, http_status: int | None = None) -> GraphError:
        return cls(code, _CODES.get(code, (0, "", "Injected failure"))[2] or None, http_status=http_status)

    def body(self) -> JSON:
        error: JSON = {"message": self.message, "type": self.kind, "code": self.code}
        if self.details is not None:
            error["error_data"] = {"messaging_product": "whatsapp", "details": self.details}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        error["fbtrace_id"] = secrets.token_urlsafe(17)[:23]
        return {"error": error}

    def webhook_error(self) -> JSON:
        """The error as a ``failed`` status (or an inbound message) carries it."""
        details = self.details or _CODES.get(self.code, (0, "", ""))[2]
        return {
            "code": self.code,
            "title": self.title,
            "message": self.title,
            "error_data": {"details": details},
            "href": ERROR_CODES_URL,
        }


@dataclass
class SentMessage:
    """A message the app sent. ``payload`` is the request JSON; ``buttons`` are the choices it
    offers as (id, title): reply buttons, list rows, or template quick replies (payload, text)."""

    id: str
    to: str
    type: str
    payload: JSON = field(repr=False)
    buttons: list[tuple[str, str]] = field(default_factory=list)
    failed_with: int | None = None  # the code of the ``failed`` status Meta posted for it

    @property
    def text(self) -> str | None:
        """The text the user reads: text body, interactive body, image caption, or for a template
        ``"template:<name> <param> | <param>"``."""
        kind, content = self.type, self.payload.get(self.type) or {}
        if kind == "text":
            return content.get("body")
        if kind == "interactive":
            return (content.get("body") or {}).get("text")
        if kind == "image":
            return content.get("caption")
        if kind == "template":
            params = [
                p.get("text", "")
                for c in content.get("components") or []
                if c.get("type") == "body"
                for p in c.get("parameters") or []
            ]
            return f"template:{content.get('name')}" + (f" {' | '.join(params)}" if params else "")
        return None


@dataclass
class Call:
    """One request to the fake, answered or refused. ``payload`` is the JSON body, if any."""

    method: str
    path: str
    status: int
    payload: JSON | None = None
    error_code: int | None = None


@dataclass
class _Template:
    name: str
    language: str
    body_params: int
    quick_replies: list[str]


@dataclass
class _Media:
    id: str
    data: bytes
    mime_type: str

    @property
    def sha256_hex(self) -> str:  # as the media URL endpoint returns it
        return hashlib.sha256(self.data).hexdigest()

    @property
    def sha256_b64(self) -> str:  # as media message webhooks carry it
        return base64.b64encode(hashlib.sha256(self.data).digest()).decode()


@dataclass
class _Failure:
    code: int
    to: str | None
    http_status: int | None
    via: Literal["response", "status"]


class FakeGraphAPI:
    """The fake Cloud API server. Use as ``async with`` or ``await start()`` / ``await close()``,
    from the event loop it was started on. ``clock`` drives the 24-hour window, timestamps and
    media URL expiry, so a test can move time without sleeping."""

    def __init__(
        self,
        *,
        access_token: str = "TEST-ACCESS-TOKEN",
        phone_number_id: str = "1000000001",
        app_secret: str = "test-app-secret",
        version: str = "v21.0",
        display_phone_number: str = "6281100000000",
        clock: Callable[[], float] = time.time,
        enforce_window: bool = True,
        window_error: Literal["response", "status"] = "status",
        auto_statuses: bool = False,
    ) -> None:
        self.access_token, self.phone_number_id, self.app_secret = access_token, phone_number_id, app_secret
        self.version, self.display_phone_number, self.clock = version, display_phone_number, clock
        self.enforce_window, self.window_error, self.auto_statuses = enforce_window, window_error, auto_statuses
        self.webhook_url: str | None = None
        self.calls: list[Call] = []
        self.failed: list[SentMessage] = []  # accepted, then reported ``failed`` by status webhook
        self._sent: dict[str, list[SentMessage]] = {}
        self._all_sent: list[SentMessage] = []
        self._templates: dict[tuple[str, str], _Template] = {}
        self._media: dict[str, _Media] = {}
        self._media_urls: dict[str, tuple[str, float]] = {}  # hash -> (media id, expiry)
        self._last_inbound: dict[str, float] = {}
        self._names: dict[str, str] = {}
        self._failures: deque[_Failure] = deque()
        self._ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._port = 0
        self._checks: dict[str, Callable[[JSON], list[tuple[str, str]]]] = {
            "text": self._check_text,
            "interactive": self._check_interactive,
            "template": self._check_template,
            "image": self._check_image,
            "location": self._check_location,
            "reaction": self._check_reaction,
        }

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        app = web.Application(client_max_size=110 << 20)  # documents go up to 100 MB
        app.router.add_post(f"/{self.version}/{{phone_number_id}}/messages", self._route(self._messages))
        app.router.add_post(f"/{self.version}/{{phone_number_id}}/media", self._route(self._upload))
        app.router.add_get(f"/{self.version}/{{media_id}}", self._route(self._media_info))
        app.router.add_get("/whatsapp_business/attachments/", self._route(self._download))
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self._port = self._runner.addresses[0][1]
        self._session = aiohttp.ClientSession()

    async def close(self) -> None:
        """Wait for the status webhooks still on their way, then stop."""
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def __aenter__(self) -> FakeGraphAPI:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def api_base_url(self) -> str:
        """What the app puts before ``/{phone_number_id}/messages`` (graph.facebook.com/vXX.X)."""
        return f"{self.base_url}/{self.version}"

    # ------------------------------------------------------------------ test side: setup and failures
    def add_template(self, name: str, language: str, body_params: int, quick_replies: int | Sequence[str] = 0) -> None:
        """An approved template: ``body_params`` text variables, and quick-reply buttons given as
        their texts, or as a count (texts "Reply 1", "Reply 2" ...)."""
        texts = (
            [f"Reply {n + 1}" for n in range(quick_replies)] if isinstance(quick_replies, int) else list(quick_replies)
        )
        self._templates[(name, language)] = _Template(name, language, body_params, texts)

    def add_media(self, data: bytes, mime_type: str) -> str:
        """Store media as if a user had sent it; returns its media id."""
        media = _Media(str(1_000_000_000_000_000 + next(self._ids)), data, mime_type)
        self._media[media.id] = media
        return media.id

    def fail_next(
        self,
        code: int,
        *,
        count: int = 1,
        to: str | None = None,
        http_status: int | None = None,
        via: Literal["response", "status"] = "response",
    ) -> None:
        """The next ``count`` sends (to ``to``, or to anyone) fail with Graph error ``code``: answered
        with the code's real HTTP status and message, or with ``via="status"`` accepted and then
        reported by a ``failed`` status webhook, as Meta does for e.g. 131026. The failure comes
        before the message is checked, so an invalid send also uses one up."""
        self._failures.extend([_Failure(code, _digits(to) if to else None, http_status, via)] * count)

    # ------------------------------------------------------------------ test side: observing
    def sent(self, wa_id: str) -> list[SentMessage]:
        """Messages to ``wa_id`` that were accepted and not reported failed, oldest first."""
        return list(self._sent.get(wa_id, []))

    def all_sent(self) -> list[SentMessage]:
        return [m for m in self._all_sent if m.failed_with is None]

    async def wait_for_sent(self, wa_id: str, count: int, timeout: float = 5.0) -> list[SentMessage]:
        try:
            async with asyncio.timeout(timeout):
                async with self._changed:
                    await self._changed.wait_for(lambda: len(self._sent.get(wa_id, [])) >= count)
        except TimeoutError:
            refused = [
                (c.status, c.error_code)
                for c in self.calls
                if c.payload and _digits(str(c.payload.get("to", ""))) == wa_id and c.status != 200
            ]
            raise AssertionError(
                f"expected at least {count} messages to {wa_id} within {timeout}s, got "
                f"{len(self.sent(wa_id))}: {[m.text for m in self.sent(wa_id)]}; refused sends "
                f"(status, code): {refused}; failed: {[m.failed_with for m in self.failed]}"
            ) from None
        return self.sent(wa_id)

    # ------------------------------------------------------------------ test side: inbound builders
    def text(self, wa_id: str, body: str, *, name: str | None = None) -> JSON:
        """A text message from ``wa_id`` (profile name ``name``, else the last one used, else "Siti")."""
        return self._inbound(wa_id, "text", {"body": body}, name=name)

    def button_reply(
        self, wa_id: str, id: str, title: str, *, context_id: str | None = None, name: str | None = None
    ) -> JSON:
        content = {"type": "button_reply", "button_reply": {"id": id, "title": title}}
        return self._inbound(wa_id, "interactive", content, name=name, context_id=context_id)

    def list_reply(
        self,
        wa_id: str,
        id: str,
        title: str,
        description: str | None = None,
        *,
        context_id: str | None = None,
        name: str | None = None,
    ) -> JSON:
        reply = {"id": id, "title": title, **({"description": description} if description is not None else {})}
        content = {"type": "list_reply", "list_reply": reply}
        return self._inbound(wa_id, "interactive", content, name=name, context_id=context_id)

    def template_button(
        self, wa_id: str, payload: str, text: str, *, context_id: str | None = None, name: str | None = None
    ) -> JSON:
        """A tap on a template's quick-reply button (message type "button")."""
        return self._inbound(wa_id, "button", {"payload": payload, "text": text}, name=name, context_id=context_id)

    def location(
        self,
        wa_id: str,
        latitude: float,
        longitude: float,
        name: str | None = None,
        address: str | None = None,
        *,
        profile_name: str | None = None,
    ) -> JSON:
        content: JSON = {"latitude": latitude, "longitude": longitude}
        content.update({k: v for k, v in (("name", name), ("address", address)) if v is not None})
        return self._inbound(wa_id, "location", content, name=profile_name)

    def image(
        self,
        wa_id: str,
        data: bytes,
        mime_type: str = "image/jpeg",
        caption: str | None = None,
        *,
        name: str | None = None,
    ) -> JSON:
        """An image message; the bytes are stored, so the app can fetch them by ``image.id``."""
        media = self._media[self.add_media(data, mime_type)]
        content: JSON = {"mime_type": mime_type, "sha256": media.sha256_b64, "id": media.id}
        if caption is not None:
            content["caption"] = caption
        return self._inbound(wa_id, "image", content, name=name)

    def document(self, wa_id: str, data: bytes, filename: str, mime_type: str, *, name: str | None = None) -> JSON:
        """A document message (a PDF, say): the name and type are what the sender's phone claims."""
        media = self._media[self.add_media(data, mime_type)]
        content: JSON = {"filename": filename, "mime_type": mime_type, "sha256": media.sha256_b64, "id": media.id}
        return self._inbound(wa_id, "document", content, name=name)

    def contacts(self, wa_id: str, phone: str, name: str, *, profile_name: str | None = None) -> JSON:
        """A shared contact card (``phone`` as typed; ``wa_id`` inside is its digits)."""
        card = {
            "name": {"formatted_name": name, "first_name": name.split()[0]},
            "phones": [{"phone": phone, "wa_id": _digits(phone), "type": "CELL"}],
        }
        return self._inbound(wa_id, "contacts", [card], name=profile_name)

    def unsupported(
        self,
        wa_id: str,
        kind: Literal["sticker", "audio", "video", "document", "reaction", "unsupported"],
        *,
        name: str | None = None,
    ) -> JSON:
        """A message the app does not handle, in its real shape."""
        if kind == "reaction":
            earlier = self._sent.get(wa_id)
            target = earlier[-1].id if earlier else self._new_wamid(self.display_phone_number)
            return self._inbound(wa_id, "reaction", {"message_id": target, "emoji": "\U0001f44d"}, name=name)
        if kind == "unsupported":
            error = GraphError(131051, "Message type is currently not supported.").webhook_error()
            error.update(title="Message type unknown", message="Message type unknown")
            return self._inbound(wa_id, "unsupported", {"type": "poll_creation"}, name=name, errors=[error])
        mime_type, data, extra = {
            "sticker": ("image/webp", b"RIFF\x00\x00\x00\x00WEBPfake", {"animated": False}),
            "audio": ("audio/ogg; codecs=opus", b"OggS-fake-voice", {"voice": True}),
            "video": ("video/mp4", b"\x00\x00\x00\x18ftypmp42fake", {}),
            "document": ("application/pdf", b"%PDF-1.4 fake", {"filename": "dokumen.pdf"}),
        }[kind]
        media = self._media[self.add_media(data, mime_type)]
        content = {**extra, "mime_type": mime_type, "sha256": media.sha256_b64, "id": media.id}
        return self._inbound(wa_id, kind, content, name=name)

    def statuses(
        self, wamid: str, status: _Status, *, recipient_id: str, errors: Sequence[int | JSON] | None = None
    ) -> JSON:
        """A status webhook for a message the app sent. ``errors`` (codes or error objects) go on a
        ``failed`` status; without them a failure reports 131026."""
        entry: JSON = {"id": wamid, "status": status, "timestamp": self._timestamp(), "recipient_id": recipient_id}
        if status == "failed":
            entry["errors"] = [
                e if isinstance(e, dict) else GraphError(e).webhook_error() for e in (errors or [131026])
            ]
        else:
            sent = next((m for m in self._all_sent if m.id == wamid), None)
            category = "utility" if sent and sent.type == "template" else "service"
            if status != "read":
                conversation: JSON = {
                    "id": hashlib.md5(recipient_id.encode()).hexdigest(),
                    "origin": {"type": category},
                }
                if status == "sent":
                    conversation["expiration_timestamp"] = str(int(self.clock()) + WINDOW_SECONDS)
                entry["conversation"] = conversation
                billable = category != "service"
                entry["pricing"] = {
                    "billable": billable,
                    "pricing_model": "PMP",
                    "category": category,
                    "type": "regular" if billable else "free_customer_service",
                }
        return self._envelope({"messaging_product": "whatsapp", "metadata": self._metadata(), "statuses": [entry]})

    # ------------------------------------------------------------------ test side: delivering
    async def deliver(self, envelope: JSON, *, signature: Literal["valid", "missing", "wrong"] = "valid") -> int:
        """POST ``envelope`` to ``webhook_url``, signed as Meta signs it; returns the HTTP status.
        A validly signed message opens (renews) its sender's 24-hour window."""
        body = json.dumps(envelope).encode()
        headers = {"Content-Type": "application/json"}
        if signature != "missing":
            secret = self.app_secret if signature == "valid" else self.app_secret + "-wrong"
            headers[SIGNATURE_HEADER] = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        if signature == "valid":
            for change in (c for e in envelope.get("entry", []) for c in e.get("changes", [])):
                for message in change.get("value", {}).get("messages", []):
                    self._last_inbound[message["from"]] = self.clock()
        return await self.deliver_raw(body, headers)

    async def deliver_raw(self, body: bytes, headers: Mapping[str, str]) -> int:
        """POST exactly ``body`` with ``headers`` to ``webhook_url``; returns the HTTP status."""
        if self.webhook_url is None or self._session is None:
            raise RuntimeError("set webhook_url (and start() the fake) before delivering")
        async with self._session.post(
            self.webhook_url, data=body, headers=dict(headers), timeout=aiohttp.ClientTimeout(total=10)
        ) as response:
            await response.read()
            return response.status

    async def send_text(self, wa_id: str, body: str, *, name: str | None = None) -> JSON:
        return await self._deliver_ok(self.text(wa_id, body, name=name))

    async def press_button(self, wa_id: str, id: str) -> JSON:
        """Tap the reply button (or template quick reply) ``id`` on the latest message to ``wa_id``
        that offers it; the reply carries that message's wamid as context."""
        message, title = self._choice(wa_id, id, lists=False)
        if message.type == "template":
            return await self._deliver_ok(self.template_button(wa_id, id, title, context_id=message.id))
        return await self._deliver_ok(self.button_reply(wa_id, id, title, context_id=message.id))

    async def select_row(self, wa_id: str, id: str) -> JSON:
        """Pick list row ``id`` on the latest list message to ``wa_id`` that offers it."""
        message, title = self._choice(wa_id, id, lists=True)
        rows = [r for s in message.payload["interactive"]["action"]["sections"] for r in s["rows"]]
        description = next(r.get("description") for r in rows if r["id"] == id)
        return await self._deliver_ok(self.list_reply(wa_id, id, title, description, context_id=message.id))

    async def send_image(
        self, wa_id: str, data: bytes, mime_type: str = "image/jpeg", caption: str | None = None
    ) -> JSON:
        return await self._deliver_ok(self.image(wa_id, data, mime_type, caption))

    async def send_location(
        self, wa_id: str, latitude: float, longitude: float, name: str | None = None, address: str | None = None
    ) -> JSON:
        return await self._deliver_ok(self.location(wa_id, latitude, longitude, name, address))

    async def _deliver_ok(self, envelope: JSON) -> JSON:
        status = await self.deliver(envelope)
        if not 200 <= status < 300:
            raise AssertionError(f"the webhook answered {status} to {json.dumps(envelope)[:300]}")
        return envelope

    def _choice(self, wa_id: str, choice_id: str, *, lists: bool) -> tuple[SentMessage, str]:
        offered = []
        for message in reversed(self._sent.get(wa_id, [])):
            is_list = message.type == "interactive" and message.payload["interactive"].get("type") == "list"
            if is_list == lists and message.buttons:
                offered.append(message.buttons)
                title = dict(message.buttons).get(choice_id)
                if title is not None:
                    return message, title
        raise ValueError(
            f"no {'list row' if lists else 'button'} {choice_id!r} on any message to {wa_id}; offered: {offered}"
        )

    # ------------------------------------------------------------------ builders' plumbing
    def _inbound(
        self,
        wa_id: str,
        kind: str,
        content: Any,
        *,
        name: str | None,
        context_id: str | None = None,
        errors: list[JSON] | None = None,
    ) -> JSON:
        if name is not None:
            self._names[wa_id] = name
        message: JSON = {"from": wa_id, "id": self._new_wamid(wa_id), "timestamp": self._timestamp(), "type": kind}
        if context_id is not None:
            message["context"] = {"from": self.display_phone_number, "id": context_id}
        message[kind] = content
        if errors is not None:
            message["errors"] = errors
        value = {
            "messaging_product": "whatsapp",
            "metadata": self._metadata(),
            "contacts": [{"profile": {"name": self._names.get(wa_id, "Siti")}, "wa_id": wa_id}],
            "messages": [message],
        }
        return self._envelope(value)

    def _envelope(self, value: JSON) -> JSON:
        return {
            "object": "whatsapp_business_account",
            "entry": [{"id": WABA_ID, "changes": [{"value": value, "field": "messages"}]}],
        }

    def _metadata(self) -> JSON:
        return {"display_phone_number": self.display_phone_number, "phone_number_id": self.phone_number_id}

    def _timestamp(self) -> str:
        return str(int(self.clock()))

    def _new_wamid(self, wa_id: str) -> str:
        return "wamid." + base64.b64encode(f"FAKE{wa_id}{next(self._ids):012d}".encode()).decode()

    # ------------------------------------------------------------------ HTTP
    def _route(
        self,
        handler: Callable[[web.Request, Call], Awaitable[JSON | web.StreamResponse]],
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """Wrap ``handler`` (which may note the request's JSON on the call): a GraphError becomes
        Meta's error body, and every request is recorded in ``calls`` with the status answered."""

        async def answer(request: web.Request) -> web.StreamResponse:
            call = Call(request.method, request.path_qs, 0)
            try:
                result = await handler(request, call)
                response = result if isinstance(result, web.StreamResponse) else web.json_response(result)
            except GraphError as error:
                call.error_code = error.code
                response = web.json_response(
                    error.body(),
                    status=error.http_status,
                    headers={"WWW-Authenticate": 'OAuth "Facebook Platform" "invalid_token"'}
                    if error.code == 190
                    else None,
                )
            call.status = response.status
            self.calls.append(call)
            return response

        return answer

    def _check_auth(self, request: web.Request) -> None:
        if request.headers.get("Authorization") != f"Bearer {self.access_token}":
            raise GraphError(190, message=_CODES[190][1])

    def _check_phone(self, request: web.Request) -> None:
        found = request.match_info["phone_number_id"]
        if found != self.phone_number_id:
            raise _no_object(request.method, found)

    async def _messages(self, request: web.Request, call: Call) -> JSON:
        self._check_auth(request)
        self._check_phone(request)
        try:
            payload = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise GraphError(100, "The request body is not valid JSON.") from None
        if not isinstance(payload, dict):
            raise GraphError(100, "The request body must be a JSON object.")
        call.payload = payload
        if _required(payload, "messaging_product") != "whatsapp":
            raise GraphError(100, "Param messaging_product must be 'whatsapp'.")
        if payload.get("status") == "read":  # mark as read (and optionally show a typing indicator)
            _required(payload, "message_id")
            return {"success": True}
        return await self._send(payload)

    async def _send(self, p: JSON) -> JSON:
        to = str(_required(p, "to"))
        wa_id = _digits(to)
        if not re.fullmatch(r"\+?\d{6,15}", to.replace(" ", "")):
            raise GraphError(100, "Invalid parameter: to must be a phone number.", message="(#100) Invalid parameter")
        if p.get("recipient_type", "individual") != "individual":
            raise GraphError(131009, "recipient_type: only 'individual' is modelled by FakeGraphAPI.")
        if wa_id == self.display_phone_number:
            raise GraphError(131021, "Sender and recipient phone number is the same.")
        failure = next((f for f in self._failures if f.to in (None, wa_id)), None)
        if failure is not None:
            self._failures.remove(failure)
            if failure.via == "response":
                raise GraphError.injected(failure.code, failure.http_status)
        kind = p.get("type", "text")  # "type" is optional and defaults to text
        check = self._checks.get(kind)
        if check is None:
            raise GraphError(
                131051, f"Message type {kind!r} is not modelled by FakeGraphAPI (it accepts {', '.join(self._checks)})."
            )
        buttons = check(p)
        failed_with = failure.code if failure is not None else None
        if kind != "template" and self.enforce_window and failed_with is None:
            opened = self._last_inbound.get(wa_id)
            if opened is None or self.clock() - opened >= WINDOW_SECONDS:
                if self.window_error == "response":
                    raise GraphError(131047, _CODES[131047][2])
                failed_with = 131047
        message = SentMessage(self._new_wamid(wa_id), wa_id, kind, copy.deepcopy(p), buttons, failed_with)
        self._all_sent.append(message)
        if failed_with is not None:
            self.failed.append(message)
            self._spawn(self._post_statuses(message, ["failed"]))
        else:
            self._sent.setdefault(wa_id, []).append(message)
            if self.auto_statuses:
                self._spawn(self._post_statuses(message, ["sent", "delivered"]))
        async with self._changed:
            self._changed.notify_all()
        result: JSON = {"id": message.id}
        if kind == "template":
            result["message_status"] = "accepted"
        return {"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": wa_id}], "messages": [result]}

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post_statuses(self, message: SentMessage, statuses: list[_Status]) -> None:
        """Status webhooks after a send. One the app is not there to take is dropped."""
        await asyncio.sleep(STATUS_DELAY)
        for status in statuses:
            if self.webhook_url is None:
                return
            envelope = self.statuses(
                message.id,
                status,
                recipient_id=message.to,
                errors=[message.failed_with] if message.failed_with else None,
            )
            try:
                await self.deliver(envelope)
            except (aiohttp.ClientError, OSError, TimeoutError):
                return

    async def _upload(self, request: web.Request, _: Call) -> JSON:
        self._check_auth(request)
        self._check_phone(request)
        form = await request.post() if request.content_type == "multipart/form-data" else {}
        if form.get("messaging_product") != "whatsapp":
            raise GraphError(100, message="(#100) The parameter messaging_product is required.")
        upload, mime_type = form.get("file"), form.get("type")
        if not isinstance(upload, web.FileField):
            raise GraphError(100, message="(#100) The parameter file is required.")
        if not isinstance(mime_type, str) or not mime_type:
            raise GraphError(100, message="(#100) The parameter type is required.")
        data = upload.file.read()
        limit = _MEDIA_LIMITS.get(mime_type.split(";")[0].strip())
        if limit is None:
            raise GraphError(
                131053,
                f"Param file must be a file with one of the following types: "
                f"{', '.join(_MEDIA_LIMITS)}. Received file of type '{mime_type}'.",
            )
        if len(data) > limit:
            raise GraphError(
                131053, f"Media file size {len(data)} bytes is over the {limit} bytes allowed for {mime_type}."
            )
        return {"id": self.add_media(data, mime_type)}

    async def _media_info(self, request: web.Request, _: Call) -> JSON:
        self._check_auth(request)
        media = self._media.get(request.match_info["media_id"])
        if media is None:
            raise _no_object("GET", request.match_info["media_id"])
        token = secrets.token_urlsafe(32)
        expiry = self.clock() + MEDIA_URL_TTL
        self._media_urls[token] = (media.id, expiry)
        url = f"{self.base_url}/whatsapp_business/attachments/?mid={media.id}&ext={int(expiry)}&hash={token}"
        return {
            "messaging_product": "whatsapp",
            "url": url,
            "mime_type": media.mime_type,
            "sha256": media.sha256_hex,
            "file_size": len(media.data),
            "id": media.id,
        }

    async def _download(self, request: web.Request, _: Call) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {self.access_token}":
            return web.Response(status=401, text="Unauthorized")
        found = self._media_urls.get(request.query.get("hash", ""))
        if found is None or found[0] != request.query.get("mid"):
            return web.Response(status=404, text="Not Found")
        if self.clock() >= found[1]:
            return web.Response(status=404, text="URL signature expired")
        media = self._media[found[0]]
        return web.Response(
            body=media.data,
            content_type=media.mime_type.split(";")[0],
            headers={"Content-Disposition": f"inline;filename={media.id}"},
        )

    # ------------------------------------------------------------------ message checks
    def _check_text(self, p: JSON) -> list[tuple[str, str]]:
        text = _object(p, "text")
        _length(_required(text, "body", "text"), 1, TEXT_LIMIT, "Text body")
        return []

    def _check_image(self, p: JSON) -> list[tuple[str, str]]:
        image = _object(p, "image")
        if ("id" in image) == ("link" in image):
            raise GraphError(131009, "Param image must have exactly one of id or link.")
        if "id" in image and image["id"] not in self._media:
            raise GraphError(131009, f"Invalid media id {image['id']!r}: this fake knows only uploaded or added media.")
        if "link" in image and not _URL.match(str(image["link"])):
            raise GraphError(131009, "Param image['link'] must be an http(s) URL.")
        if "caption" in image:
            _length(image["caption"], 0, CAPTION_LIMIT, "Image caption")
        return []

    def _check_location(self, p: JSON) -> list[tuple[str, str]]:
        location = _object(p, "location")
        for key, bound in (("latitude", 90), ("longitude", 180)):
            value = _required(location, key, "location")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not -bound <= value <= bound:
                raise GraphError(131009, f"Param location['{key}'] must be a number from -{bound} to {bound}.")
        return []

    def _check_reaction(self, p: JSON) -> list[tuple[str, str]]:
        reaction = _object(p, "reaction")
        _required(reaction, "message_id", "reaction")
        if not isinstance(reaction.get("emoji"), str):  # "" removes a reaction
            raise GraphError(100, message="(#100) The parameter reaction['emoji'] is required.")
        return []

    def _check_interactive(self, p: JSON) -> list[tuple[str, str]]:
        interactive = _object(p, "interactive")
        kind = _required(interactive, "type", "interactive")
        limits = {"button": BUTTON_BODY_LIMIT, "list": LIST_BODY_LIMIT, "location_request_message": BUTTON_BODY_LIMIT}
        if kind not in limits:
            raise GraphError(
                131009, f"Interactive type {kind!r} is not modelled by FakeGraphAPI (it accepts {', '.join(limits)})."
            )
        body = interactive.get("body")
        if not isinstance(body, dict) or not body.get("text"):
            raise GraphError(131008, "The parameter interactive['body']['text'] is required.")
        _length(body["text"], 1, limits[kind], "Body text")
        self._check_header_footer(interactive, kind)
        action = interactive.get("action")
        if not isinstance(action, dict):
            raise GraphError(131008, "The parameter interactive['action'] is required.")
        if kind == "button":
            return _check_buttons(action)
        if kind == "list":
            return _check_list(action)
        if action.get("name") != "send_location":
            raise GraphError(131009, "Param interactive['action']['name'] must be 'send_location'.")
        return []

    def _check_header_footer(self, interactive: JSON, kind: str) -> None:
        if kind == "location_request_message":
            if "header" in interactive or "footer" in interactive:
                raise GraphError(131009, "Location request messages take only a body and the action.")
            return
        if "footer" in interactive:
            _length((interactive["footer"] or {}).get("text"), 1, HEADER_FOOTER_LIMIT, "Footer text")
        header = interactive.get("header")
        if header is None:
            return
        media_headers = ("image", "video", "document") if kind == "button" else ()
        header_type = header.get("type") if isinstance(header, dict) else None
        if header_type == "text":
            _length(header.get("text"), 1, HEADER_FOOTER_LIMIT, "Header text")
        elif header_type in media_headers:
            media = header.get(header_type)
            if not isinstance(media, dict) or ("id" in media) == ("link" in media):
                raise GraphError(131009, f"Header {header_type} must have exactly one of id or link.")
        else:
            raise GraphError(131009, f"Header type {header_type!r} is not valid for {kind} messages.")

    def _check_template(self, p: JSON) -> list[tuple[str, str]]:
        template = _object(p, "template")
        name = _required(template, "name", "template")
        language = template.get("language")
        if not isinstance(language, dict) or not language.get("code"):
            raise GraphError(100, message="(#100) The parameter template['language']['code'] is required.")
        known = self._templates.get((name, language["code"]))
        if known is None:
            raise GraphError(132001, f"template name ({name}) does not exist in {language['code']}")
        counts = {"header": 0, "body": 0}
        payloads: dict[int, str] = {}
        for component in template.get("components") or []:
            kind = component.get("type") if isinstance(component, dict) else None
            if kind in counts:
                counts[kind] += len(_text_params(component.get("parameters") or []))
            elif kind == "button":
                index, payload = _quick_reply(component, len(known.quick_replies))
                if index in payloads:
                    raise GraphError(131009, f"Button at index {index} is given twice.")
                payloads[index] = payload
            else:
                raise GraphError(131009, f"Template component type {kind!r} is not modelled by FakeGraphAPI.")
        for kind, expected in (("header", 0), ("body", known.body_params)):
            if counts[kind] != expected:
                raise GraphError(
                    132000,
                    f"{kind}: number of localizable_params ({counts[kind]}) does not match "
                    f"the expected number of params ({expected})",
                )
        # A quick reply sent without a payload parameter comes back with its text as payload.
        return [(payloads.get(n, text), text) for n, text in enumerate(known.quick_replies)]


# ---------------------------------------------------------------------- validation helpers
def _digits(phone: str) -> str:
    return re.sub(r"\D", "", phone)


def _no_object(method: str, object_id: str) -> GraphError:
    return GraphError(
        100,
        message=f"Unsupported {method.lower()} request. Object with ID '{object_id}' does not "
        "exist, cannot be loaded due to missing permissions, or does not support this "
        "operation. Please read the Graph API documentation at "
        "https://developers.facebook.com/docs/graph-api",
        kind="GraphMethodException",
        subcode=33,
    )


def _required(obj: JSON, key: str, parent: str | None = None) -> Any:
    value = obj.get(key)
    if value is None or value == "":
        where = f"{parent}['{key}']" if parent else key
        raise GraphError(100, message=f"(#100) The parameter {where} is required.")
    return value


def _object(p: JSON, kind: str) -> JSON:
    value = p.get(kind)
    if not isinstance(value, dict):
        raise GraphError(100, message=f"(#100) The parameter {kind} is required.")
    return value


def _length(value: Any, low: int, high: int, what: str) -> None:
    if not isinstance(value, str) or not low <= len(value) <= high:
        raise GraphError(131009, f"{what} length invalid. Min length: {low}, Max length: {high}")


def _check_buttons(action: JSON) -> list[tuple[str, str]]:
    buttons = action.get("buttons")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= MAX_BUTTONS:
        raise GraphError(131009, f"Invalid buttons count. Min allowed buttons: 1, Max allowed buttons: {MAX_BUTTONS}")
    choices = []
    for button in buttons:
        reply = button.get("reply") if isinstance(button, dict) and button.get("type") == "reply" else None
        if not isinstance(reply, dict):
            raise GraphError(131009, 'Each button must be {"type": "reply", "reply": {"id", "title"}}.')
        _length(reply.get("id"), 1, BUTTON_ID_LIMIT, "Button id")
        _length(reply.get("title"), 1, BUTTON_TITLE_LIMIT, "Button title")
        choices.append((reply["id"], reply["title"]))
    if len({t for _, t in choices}) < len(choices):
        raise GraphError(131009, "Button title is not unique.")
    if len({i for i, _ in choices}) < len(choices):
        raise GraphError(131009, "Button id is not unique.")
    return choices


def _check_list(action: JSON) -> list[tuple[str, str]]:
    _length(action.get("button"), 1, LIST_BUTTON_LIMIT, "Button label")
    sections = action.get("sections")
    if not isinstance(sections, list) or not 1 <= len(sections) <= MAX_SECTIONS:
        raise GraphError(
            131009, f"Invalid sections count. Min allowed sections: 1, Max allowed sections: {MAX_SECTIONS}"
        )
    rows = []
    for section in sections:
        if not isinstance(section, dict) or not isinstance(section.get("rows"), list) or not section["rows"]:
            raise GraphError(131009, "Each section must have at least one row.")
        if len(sections) > 1 and not section.get("title"):
            raise GraphError(131008, "Section title is required when a list has more than one section.")
        if "title" in section:
            _length(section["title"], 1, SECTION_TITLE_LIMIT, "Section title")
        rows.extend(section["rows"])
    if len(rows) > MAX_ROWS:
        raise GraphError(131009, f"Total row count exceed max allowed count: {MAX_ROWS}")
    choices = []
    for row in rows:
        if not isinstance(row, dict):
            raise GraphError(131009, "Each row must be an object with id and title.")
        _length(row.get("id"), 1, ROW_ID_LIMIT, "Row id")
        _length(row.get("title"), 1, ROW_TITLE_LIMIT, "Row title")
        if "description" in row:
            _length(row["description"], 0, ROW_DESCRIPTION_LIMIT, "Row description")
        choices.append((row["id"], row["title"]))
    if len({i for i, _ in choices}) < len(choices):
        raise GraphError(131009, "Row id is not unique.")
    return choices


def _text_params(parameters: list[Any]) -> list[str]:
    texts = []
    for parameter in parameters:
        if not isinstance(parameter, dict) or parameter.get("type") != "text":
            raise GraphError(131009, "Only parameters of type text are modelled by FakeGraphAPI.")
        text = parameter.get("text")
        if not isinstance(text, str) or not text:
            raise GraphError(131008, "Parameter of type text is missing text value")
        if _PARAM_WHITESPACE.search(text):
            raise GraphError(100, "Param text cannot have new-line/tab characters or more than 4 consecutive spaces")
        texts.append(text)
    return texts


def _quick_reply(component: JSON, available: int) -> tuple[int, str]:
    if component.get("sub_type") != "quick_reply":
        raise GraphError(131009, f"Button sub_type {component.get('sub_type')!r} is not modelled by FakeGraphAPI.")
    index = component.get("index")
    if isinstance(index, str) and index.isdigit():
        index = int(index)
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < available:
        raise GraphError(
            131009,
            f"Button at index {component.get('index')!r} does not exist in the template ({available} quick replies).",
        )
    parameters = component.get("parameters")
    if (
        not isinstance(parameters, list)
        or len(parameters) != 1
        or not isinstance(parameters[0], dict)
        or parameters[0].get("type") != "payload"
        or not parameters[0].get("payload")
    ):
        raise GraphError(131008, 'A quick_reply button takes one parameter {"type": "payload", "payload": ...}.')
    return index, str(parameters[0]["payload"])

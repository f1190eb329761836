"""WhatsApp through the Cloud API: the webhook in, the /messages endpoint out.

In: Meta POSTs deliveries to `/whatsapp/webhook`, signed with the app secret; a delivery with
a missing or wrong signature is refused before anything is read. Messages go to the runner
(de-duplicated on WhatsApp's message id, since deliveries are retried) and the answer is 200
once they are committed, so a failure here makes Meta deliver again. Status reports update the
outbox row they are about.

Out: the sender hands us one message at a time. Within 24 hours of the person's last message
it goes out as itself (text, reply buttons, a list, a location request, a photo); otherwise,
or when WhatsApp says the window is closed (131047), as the office's approved template for
that kind of message. Rate-limit answers (130429 throughput, 131056 pair rate) make the sender
wait and try again; nothing is dropped.

Why no client library: pywa, the maintained one, brings its own HTTP client (httpx) and its
own web-framework adapters (not aiohttp), and the parts we need (an HMAC check, five
endpoints) are short; the 24-hour routing and the outbox are ours either way.
"""

from __future__ import annotations

import asyncio
import hmac
import io
import logging
import mimetypes
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache, partial
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from PIL import Image

from bot.channels.base import HoldForReply, PermanentFailure, RetryLater, Sent, masked
from bot.channels.spec import ChannelSpec, Wiring
from bot.channels.whatsapp_inbound import CHANNEL, SIGNATURE_HEADER, read_delivery, signature_valid
from bot.channels.whatsapp_shape import Labels, requests_for
from bot.channels.whatsapp_templates import TemplateBook, checked_templates, template_for
from bot.clock import Clock, utc_now
from bot.ratelimit import ChannelLimits, channel_limits
from bot.runner import PhotoTooLarge, Runner
from bot.settings import Settings
from storage import outbox, repo
from storage.db import Database
from workflows.messages import OutMessage
from workflows.texts import Texts

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/whatsapp/webhook"
WINDOW = timedelta(hours=24)
WINDOW_MARGIN = timedelta(minutes=5)  # clocks differ, and a message takes a moment to arrive
CAPTION_LIMIT = 1024
IMAGE_TYPES_OUT, IMAGE_BYTES_MAX = ("image/jpeg", "image/png"), 5 * 1024 * 1024  # what WhatsApp takes as an image
WINDOW_CLOSED = 131047
# Codes that mean "later": throughput, pair rate, spam rate, app and account rate limits,
# and WhatsApp's own passing trouble. Seconds to wait before trying again.
RETRY_CODES = {130429: 2.0, 131056: 6.0, 131048: 60.0, 4: 60.0, 80007: 60.0, 131000: 5.0, 131016: 10.0, 1: 5.0, 2: 5.0}
AUTH_CODES = {190, 10, 200}  # a bad or expired token: an operator must act, and messages wait meanwhile
AUTH_WAIT = 120.0
FRESH = timedelta(minutes=1)  # a message written this recently counts as written now
SEEN_MAX = 100_000  # people whose last message this process remembers
REPORT_ATTEMPTS, REPORT_PAUSE = 4, 0.25  # a failure report for a message not recorded yet: up to 2.5 s
# The template is missing, paused, disabled or does not match what we fill in: an operator must
# fix it in WhatsApp Manager or whatsapp_templates.yaml. The message waits for the person instead.
TEMPLATE_CODES = {132000, 132001, 132005, 132007, 132012, 132015, 132016}


@dataclass
class Progress:
    """Of a message said in several requests: how many a retry skips, how many went out now."""

    skip: int
    done: int = 0


class GraphError(Exception):
    def __init__(self, status: int, code: int | None, message: str) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status, self.code, self.message = status, code, message


class WhatsAppChannel:
    """Receives webhook deliveries for the runner and sends outbox messages."""

    name = CHANNEL

    def __init__(
        self,
        settings: Settings,
        runner: Runner,
        db: Database,
        texts: Texts,
        templates: TemplateBook,
        clock: Clock = utc_now,
    ) -> None:
        assert _enabled(settings)
        self.settings = settings
        self.runner = runner
        self.db = db
        self.texts = texts
        self.templates = templates
        self.clock = clock
        self.api = settings.whatsapp_api_base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {settings.whatsapp_access_token}"}
        self._http: aiohttp.ClientSession | None = None
        # When each person last wrote to this process: a reply right after a message needs no
        # database read to know the window is open. Only ever a lower bound (another process
        # may have had a later message), so "closed" or "unknown" is checked in the database.
        self._wrote: dict[str, datetime] = {}

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self._http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=30), connector=aiohttp.TCPConnector(limit=64)
        )

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.close()

    @property
    def http(self) -> aiohttp.ClientSession:
        assert self._http is not None, "WhatsAppChannel.start() first"
        return self._http

    # ------------------------------------------------------------------ inbound
    def routes(self) -> Sequence[web.AbstractRouteDef]:
        """Meta's subscription handshake and its deliveries, on one path."""
        return [web.get(WEBHOOK_PATH, self.verify), web.post(WEBHOOK_PATH, self.webhook)]

    async def verify(self, request: web.Request) -> web.Response:
        """Meta's subscription handshake: echo the challenge to whoever knows the verify token."""
        query = request.query
        token = (query.get("hub.verify_token") or "").encode()
        expected = (self.settings.whatsapp_verify_token or "").encode()
        if query.get("hub.mode") == "subscribe" and expected and hmac.compare_digest(token, expected):
            return web.Response(text=query.get("hub.challenge", ""))
        return web.Response(status=403)

    async def webhook(self, request: web.Request) -> web.Response:
        """A delivery from Meta: signature first, then the messages (each committed before the
        answer, so a failure makes Meta deliver again; the wamid makes that harmless), then
        the status reports."""
        body = await request.read()
        header = request.headers.get(SIGNATURE_HEADER)
        if header is None:
            return web.Response(status=401)
        if not signature_valid(body, header, self.settings.whatsapp_app_secret or ""):
            return web.Response(status=403)
        try:
            incoming, reports = read_delivery(await request.json())
        except ValueError:
            return web.Response(status=400)
        for item in incoming:
            fetch = partial(self._download, item.media_id) if item.media_id is not None else None
            await self.runner.handle(item.envelope, fetch)
            self._saw(item.envelope.chat_id, item.written_at)
        await self._record_reports(reports)
        return web.Response(status=200)

    async def _record_reports(self, reports: list[outbox.DeliveryReport]) -> None:
        """Record statuses. A report can overtake the sender, which records a message only once
        WhatsApp answered: failures, which must not be lost, are looked for again for a moment
        (all together). One that never matches is about a message not ours (another
        deployment on the number) or an earlier part of a message in several requests."""
        waiting = [r for r in reports if not await self.db.run(self._apply_report, r) and r.status == "failed"]
        for attempt in range(REPORT_ATTEMPTS):
            if not waiting:
                return
            await asyncio.sleep(REPORT_PAUSE * (attempt + 1))
            waiting = [r for r in waiting if not await self.db.run(self._apply_report, r)]
        log.warning(
            "whatsapp: %d failure report(s) match no message of ours: %s",
            len(waiting),
            ", ".join(f"{r.error_code}" for r in waiting),
        )

    def _apply_report(self, session: Any, report: outbox.DeliveryReport) -> bool:
        """A message WhatsApp refused for later goes out again: after the window closed, as a
        template (its closing is now also our record), after a rate limit, as itself. False
        when no row has the report's id."""
        found = outbox.record_delivery(session, channel=CHANNEL, report=report)
        if found is None:
            return False
        if not found.news or report.status != "failed":
            return True
        log.warning("whatsapp: message %s failed: %s %s", found.id, report.error_code, report.error)
        if found.status == outbox.HELD:  # the template announcing it failed; the message still waits
            return True
        if report.error_code == WINDOW_CLOSED:
            sent_at = found.sent_at or self.clock()
            seen = self._wrote.get(found.chat_id)
            if seen is None or seen <= sent_at:  # unless they wrote since, as far as this process saw
                self._wrote.pop(found.chat_id, None)
                repo.forget_last_inbound(session, channel=CHANNEL, chat_id=found.chat_id, sent_at=sent_at)
        if report.error_code == WINDOW_CLOSED or report.error_code in RETRY_CODES:
            outbox.requeue(session, message_ids=[found.id], now=self.clock())
        return True

    async def _download(self, media_id: str, limit: int) -> bytes | None:
        """Media id → a short-lived URL → the bytes, both with our token; refused early when
        WhatsApp says it is too large, and never read past `limit`. None when it cannot be
        had: the person is asked to send it again, rather than Meta redelivering for days."""
        try:
            return await self._fetch_media(media_id, limit)
        except (TimeoutError, GraphError, aiohttp.ClientError, KeyError, ValueError) as error:
            log.warning("whatsapp: media %s could not be downloaded: %r", media_id, error)
            return None

    async def _fetch_media(self, media_id: str, limit: int) -> bytes:
        async with self.http.get(f"{self.api}/{media_id}", headers=self.headers) as response:
            if response.status != 200:
                raise GraphError(response.status, None, f"media {media_id}: {await response.text()}")
            media = await response.json()
        if int(media.get("file_size") or 0) > limit:
            raise PhotoTooLarge()
        async with self.http.get(media["url"], headers=self.headers) as response:
            if response.status != 200:
                raise GraphError(response.status, None, f"media download {media_id}")
            data = bytearray()
            async for chunk in response.content.iter_chunked(64 * 1024):
                data += chunk
                if len(data) > limit:
                    raise PhotoTooLarge()
            return bytes(data)

    # ------------------------------------------------------------------ outbound
    async def send(self, chat_id: str, message: OutMessage, skip: int = 0) -> str | Sent | None:
        progress = Progress(skip)
        try:
            if not await self._window_open(chat_id):
                return await self._send_template(chat_id, message)
            try:
                return await self._send_free_form(chat_id, message, progress)
            except GraphError as error:
                if error.code != WINDOW_CLOSED:
                    raise
                log.info("whatsapp: window closed for %s by WhatsApp's reckoning; sending a template", masked(chat_id))
                await self._window_closed(chat_id, self.clock())
                return await self._send_template(chat_id, message)
        except GraphError as error:
            raise _failure(error, progress.done) from error
        except (TimeoutError, aiohttp.ClientError) as error:
            raise RetryLater(2.0, f"network: {error!r}", parts_done=progress.done) from error

    def _saw(self, chat_id: str, written_at: datetime | None) -> None:
        """Remember when they wrote: now for a fresh message (WhatsApp's time has whole
        seconds), the message's own time for an old one (a redelivery proves nothing about now)."""
        now = self.clock()
        at = now if written_at is None or now - written_at < FRESH else written_at
        known = self._wrote.get(chat_id)
        if known is not None and at <= known:
            return
        self._wrote.pop(chat_id, None)
        self._wrote[chat_id] = at
        if len(self._wrote) > SEEN_MAX:  # the oldest first: dicts keep insertion order
            del self._wrote[next(iter(self._wrote))]

    async def _window_open(self, chat_id: str) -> bool:
        """Whether the person wrote within 24 hours (less a margin), by our own record."""
        limit = WINDOW - WINDOW_MARGIN
        seen = self._wrote.get(chat_id)
        if seen is not None and self.clock() - seen < limit:
            return True
        contact = await self.db.run(repo.find_contact, channel=CHANNEL, external_id=chat_id)
        return (
            contact is not None
            and contact.last_inbound_at is not None
            and self.clock() - contact.last_inbound_at < limit
        )

    async def _window_closed(self, chat_id: str, sent_at: datetime) -> None:
        """WhatsApp says so (131047) whatever our record says: believe it until they write."""
        self._wrote.pop(chat_id, None)
        await self.db.run(repo.forget_last_inbound, channel=CHANNEL, chat_id=chat_id, sent_at=sent_at)

    async def _send_free_form(self, chat_id: str, message: OutMessage, progress: Progress) -> str | None:
        """The message's requests in order, leaving out those sent before a retry; `progress`
        counts the ones that went out, so a failure half-way resends only the rest."""
        if message.photo is not None:
            return await self._send_photo(chat_id, message)
        sent = None
        for request in requests_for(message, self._labels(message.language))[progress.skip :]:
            sent = await self._post_message(chat_id, request)
            progress.done += 1
        return sent

    async def _send_template(self, chat_id: str, message: OutMessage) -> str | Sent | None:
        """The template for this kind of message. When it cannot carry the whole message, the
        message waits for the person's next one; unless they wrote while it went out."""
        if message.photo is not None:  # a template of a caption says nothing: the notice before it did
            if await self._window_open(chat_id):
                return await self._send_photo(chat_id, message)
            raise HoldForReply("outside the 24-hour window")
        request = template_for(self.templates, message)
        try:
            sent = await self._post_message(chat_id, {"type": "template", "template": request.template})
        except GraphError as error:
            if error.code not in TEMPLATE_CODES:
                raise
            log.error(
                "whatsapp: template %s was refused (%s %s); fix it in WhatsApp Manager or whatsapp_templates.yaml",
                request.name,
                error.code,
                error.message,
            )
            raise HoldForReply(f"template {request.name}: {error.code} {error.message}") from error
        if request.held and await self._window_open(chat_id):
            await self._send_free_form(chat_id, message, Progress(0))
            return Sent(sent, sent_as=f"template:{request.name}")
        return Sent(sent, sent_as=f"template:{request.name}", held=request.held)

    async def _send_photo(self, chat_id: str, message: OutMessage) -> str | None:
        """Upload the stored photo and send it with the text (a short "photo 1 of 2") as its
        caption; a photo that is gone is said in words instead."""
        path = (self.settings.attachments_dir / (message.photo or "")).resolve()
        if not path.is_file() or self.settings.attachments_dir.resolve() not in path.parents:
            log.warning("whatsapp: photo %s is missing; sending the caption alone", message.photo)
            return await self._post_message(chat_id, {"type": "text", "text": {"body": message.text[:4096]}})
        data, content_type = await asyncio.to_thread(image_for_whatsapp, path)
        form = aiohttp.FormData()
        form.add_field("messaging_product", "whatsapp")
        form.add_field("type", content_type)
        form.add_field(
            "file",
            data,
            filename=path.stem + (mimetypes.guess_extension(content_type, strict=False) or ".jpg"),
            content_type=content_type,
        )
        uploaded = await self._call(f"{self.api}/{self.settings.whatsapp_phone_number_id}/media", data=form)
        return await self._post_message(
            chat_id, {"type": "image", "image": {"id": uploaded["id"], "caption": message.text[:CAPTION_LIMIT]}}
        )

    async def _post_message(self, chat_id: str, request: dict[str, Any]) -> str | None:
        body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": chat_id, **request}
        answer = await self._call(f"{self.api}/{self.settings.whatsapp_phone_number_id}/messages", json=body)
        messages = answer.get("messages") or [{}]
        return messages[0].get("id")

    async def _call(self, url: str, **kwargs: Any) -> dict[str, Any]:
        async with self.http.post(url, headers=self.headers, **kwargs) as response:
            try:
                answer = await response.json(content_type=None)
            except ValueError:
                answer = {}
            if response.status >= 400 or "error" in (answer or {}):
                error = (answer or {}).get("error") or {}
                details = (error.get("error_data") or {}).get("details") or error.get("message") or response.reason
                raise GraphError(response.status, error.get("code"), str(details))
            return answer or {}

    def _labels(self, language: str) -> Labels:
        return _labels(self.texts, language)


@cache
def _labels(texts: Texts, language: str) -> Labels:
    return Labels(choose=texts.button("choose", language), or_choose=texts.render("whatsapp/or_choose", language))


def image_for_whatsapp(path: Path) -> tuple[bytes, str]:
    """A stored photo as WhatsApp takes images: JPEG or PNG of at most 5 MB (WebP is for
    stickers only there). Others are re-encoded as JPEG, scaled down until they fit."""
    data = path.read_bytes()
    content_type = mimetypes.guess_type(path.name)[0]
    if content_type in IMAGE_TYPES_OUT and len(data) <= IMAGE_BYTES_MAX:
        return data, content_type
    with Image.open(io.BytesIO(data)) as image:
        picture = image.convert("RGB")
    side = max(picture.size)
    while True:
        scaled = picture if side >= max(picture.size) else picture.copy()
        scaled.thumbnail((side, side))
        out = io.BytesIO()
        scaled.save(out, "JPEG", quality=85)
        if out.tell() <= IMAGE_BYTES_MAX or side <= 320:
            return out.getvalue(), "image/jpeg"
        side = int(side * 0.7)


def _failure(error: GraphError, parts_done: int = 0) -> Exception:
    """What the sender should do about a refused request."""
    if error.code in RETRY_CODES:
        return RetryLater(RETRY_CODES[error.code], f"whatsapp {error.code}: {error.message}", parts_done)
    if error.code in AUTH_CODES or error.status == 401:
        log.error("whatsapp: the access token was refused (%s); messages wait until it is fixed", error.code)
        return RetryLater(AUTH_WAIT, f"whatsapp {error.code}: {error.message}", parts_done)
    if error.status >= 500 or error.status == 429:
        return RetryLater(5.0, f"whatsapp {error.status}: {error.message}", parts_done)
    return PermanentFailure(f"whatsapp {error.code}: {error.message}")


def _secrets(settings: Settings) -> dict[str, str | None]:
    return {
        "WHATSAPP_ACCESS_TOKEN": settings.whatsapp_access_token,
        "WHATSAPP_PHONE_NUMBER_ID": settings.whatsapp_phone_number_id,
        "WHATSAPP_APP_SECRET": settings.whatsapp_app_secret,
        "WHATSAPP_VERIFY_TOKEN": settings.whatsapp_verify_token,
    }


def _enabled(settings: Settings) -> bool:
    """On when the four secrets WhatsApp needs are all set."""
    return all(_secrets(settings).values())


def _validate(settings: Settings) -> None:
    """Some of the four secrets but not all is a mistake, not "off"."""
    secrets = _secrets(settings)
    if any(secrets.values()) and not all(secrets.values()):
        missing = ", ".join(name for name, value in secrets.items() if not value)
        raise ValueError(f"WhatsApp needs all four of its settings; missing: {missing}")


def _limits(settings: Settings) -> ChannelLimits:
    """The Cloud API's throughput for the number, and its pair rate to one person."""
    return channel_limits(settings.whatsapp_rate_per_chat, settings.whatsapp_rate_burst, settings.whatsapp_rate_global)


def _build(wiring: Wiring) -> WhatsAppChannel:
    templates = checked_templates(wiring.settings.flows_dir, wiring.texts)
    return WhatsAppChannel(wiring.settings, wiring.runner, wiring.db, wiring.texts, templates, wiring.clock)


SPEC = ChannelSpec(
    name=CHANNEL,
    build=_build,
    environment={
        "WHATSAPP_ACCESS_TOKEN": ("whatsapp_access_token", str),
        "WHATSAPP_PHONE_NUMBER_ID": ("whatsapp_phone_number_id", str),
        "WHATSAPP_APP_SECRET": ("whatsapp_app_secret", str),
        "WHATSAPP_VERIFY_TOKEN": ("whatsapp_verify_token", str),
        "WHATSAPP_API_BASE_URL": ("whatsapp_api_base_url", str),
        "WHATSAPP_DISPLAY_NUMBER": ("whatsapp_display_number", str),
        "WHATSAPP_RATE_PER_CHAT": ("whatsapp_rate_per_chat", float),
        "WHATSAPP_RATE_BURST": ("whatsapp_rate_burst", int),
        "WHATSAPP_RATE_GLOBAL": ("whatsapp_rate_global", float),
    },
    enabled=_enabled,
    validate=_validate,
    limits=_limits,
)

"""The built-in web chat: a page at `/` and a small JSON API over the same engine.

It needs no token and serves people with neither Telegram nor WhatsApp. The browser holds a
session token the server issued and signed (`webchat_session.py`) in an HttpOnly cookie,
Secure over TLS; the database knows only its hash. Replies are outbox rows
of channel "web" that the page reads back, so a reload shows the conversation so far. An open
page also holds a Server-Sent Events stream (`/api/chat/stream`) on which new rows arrive as
they are queued, an officer's question included (`bot/channels/webchat_live.py` wakes it).
Every POST must carry the `X-Satupintu-Chat` header, which a cross-site form cannot send.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, web
from jinja2 import Environment, FileSystemLoader, select_autoescape

from bot.channels import webchat_session
from bot.channels.spec import ChannelSpec, Wiring
from bot.channels.webchat_live import LiveChats
from bot.channels.webchat_push import WebPush, default_subject, load_vapid, parse_subscription, public_key
from bot.channels.webchat_status import StatusPage
from bot.channels.webchat_survey import SurveyForm
from bot.proxied import over_https
from bot.runner import PhotoTooLarge, Runner
from bot.server_key import load_server_key
from bot.settings import Settings
from storage import outbox, push_subscriptions, repo
from storage.files import PDF_HEADER
from storage.models import stored_id
from workflows.engine import Inbound
from workflows.inbound import Envelope, language_from_hint
from workflows.messages import OutMessage
from workflows.texts import TEMPLATES_DIR

CHANNEL = "web"
COOKIE = "satupintu_chat"
HEADER = "X-Satupintu-Chat"
CLIENT_ID = re.compile(r"^[A-Za-z0-9-]{8,64}$")
MAX_TEXT = 20_000  # far above any step's limit: the engine states the real limit kindly
STATIC_DIR = TEMPLATES_DIR / "web" / "static"
HEARTBEAT_SECONDS = 15.0  # a comment line this often keeps proxies from closing an idle stream
PAGE = 100  # messages read at once
RETRY_MS = 2000  # how soon the browser reconnects a dropped stream
LARGEST_ID = 2**31 - 1  # the largest message id the outbox column holds (INTEGER on PostgreSQL)
SESSION_DAYS = 90


def pages_environment(directory: Path = TEMPLATES_DIR) -> Environment:
    return Environment(
        loader=FileSystemLoader(str(directory)), autoescape=select_autoescape(["html", "j2"]), auto_reload=False
    )


def chat_id_of(token: str) -> str:
    """The chat id (and contact external id) of a cookie's token: its hash, never the token."""
    return "w" + hashlib.sha256(token.encode()).hexdigest()[:40]


def _language(request: web.Request) -> str:
    wanted = request.query.get("lang") or request.headers.get("Accept-Language") or "id"
    return language_from_hint(wanted.split(",")[0].strip())


def _guard(request: web.Request) -> None:
    if request.headers.get(HEADER) != "1":
        raise web.HTTPForbidden(text='{"error": "missing_header"}', content_type="application/json")


def _envelope(request: web.Request, token: str, client_id: str, event: Inbound) -> Envelope:
    external = chat_id_of(token)
    return Envelope(
        channel=CHANNEL,
        external_id=external,
        chat_id=external,
        event=event,
        message_id=f"{external}:{client_id}",
        language_hint=_language(request),
    )


def _message_id(value: object) -> int | None:
    """A message id the page sent back (`after`, `Last-Event-ID`): a whole number from 0 to the
    largest the database holds, as JSON number or text; None for anything else (`1e999`, `-1`,
    `abc`, 10^30), which would otherwise fail deep in a query."""
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() and len(value) < 20:
        number = int(value)
    else:
        return None
    return number if 0 <= number <= LARGEST_ID else None


def _cursor(value: str | None) -> int:
    """The stream's resume point: a browser's `Last-Event-ID` is ours, so a bad one means start over."""
    return _message_id(value) or 0


def _event(body: dict[str, Any]) -> Inbound:
    if body.get("value") is not None:
        return Inbound(kind="choice", value=str(body["value"])[:100], step=str(body.get("step") or "")[:64] or None)
    if body.get("latitude") is not None and body.get("longitude") is not None:
        return Inbound(kind="location", latitude=float(body["latitude"]), longitude=float(body["longitude"]))
    if isinstance(body.get("text"), str):
        return Inbound(kind="text", text=body["text"][:MAX_TEXT])
    return Inbound(kind="unsupported", media="other")


class WebChat:
    """The page and its API; replies stay in the outbox for the page to read or to receive on
    its stream (the sender does not push them)."""

    name = CHANNEL

    def __init__(
        self,
        runner: Runner,
        settings: Settings,
        pages: Environment | None = None,
        *,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        push: WebPush | None = None,
        allow_local_push: bool = False,
    ) -> None:
        self.runner = runner
        self.settings = settings
        self.key = load_server_key(settings.data_dir)
        self.pages = pages or pages_environment()
        self.status = StatusPage(runner, self.pages, _language, behind_proxy=settings.behind_proxy)
        self.survey = SurveyForm(runner, self.pages, _language)
        self.live = LiveChats(runner.db, channel=CHANNEL)
        self.heartbeat_seconds = heartbeat_seconds
        self.push = push
        self.allow_local_push = allow_local_push  # tests' fake push service listens on plain http
        if push is not None:
            self.live.on_unwatched = push.notice
            push.watched = self.live.watched

    def routes(self) -> Sequence[web.AbstractRouteDef]:
        return [
            web.get("/", self.page),
            web.post("/api/chat/send", self.send),
            web.post("/api/chat/photo", self.photo),
            web.get("/api/chat/messages", self.messages),
            web.get("/api/chat/stream", self.stream),
            web.get("/api/chat/push/key", self.push_key),
            web.post("/api/chat/push", self.subscribe),
            web.delete("/api/chat/push", self.unsubscribe),
            web.get("/sw.js", self.service_worker),
            *self.status.routes(),
            *self.survey.routes(),
            web.static("/static/", STATIC_DIR, append_version=True),
        ]

    async def start(self) -> None:
        """Start noticing new rows for the open streams."""
        await self.live.start()
        if self.push is not None:
            await self.push.start()

    async def end_streams(self) -> None:
        """At shutdown, before the server waits for its requests: end the streams at once."""
        self.live.end_streams()

    async def stop(self) -> None:
        await self.live.stop()
        if self.push is not None:
            await self.push.stop()

    async def page(self, request: web.Request) -> web.Response:
        language = _language(request)
        template = self.pages.get_template("web/chat.html")
        body = template.render(lang=language, strings=self.pages.get_template(f"web/strings.{language}.j2").module)
        response = web.Response(text=body, content_type="text/html")
        if await self._session_of(request) is None:  # none yet, or one we never issued: a new one
            response.set_cookie(
                COOKIE,
                webchat_session.issue(self.key),
                httponly=True,
                samesite="Lax",
                secure=over_https(request, self.settings),
                max_age=60 * 60 * 24 * SESSION_DAYS,
                path="/",
            )
        response.headers["Content-Security-Policy"] = "default-src 'self'; img-src 'self' data: blob:"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    async def _session_of(self, request: web.Request) -> str | None:
        """The request's session token if this server issued it, else None."""
        token = request.cookies.get(COOKIE)
        if not token or len(token) > webchat_session.MAX_LENGTH:
            return None
        if webchat_session.is_signed(self.key, token):
            return token
        if webchat_session.is_legacy(token):
            known = await self.runner.db.read(repo.find_contact, channel=CHANNEL, external_id=chat_id_of(token))
            return token if known is not None else None
        return None

    async def _token(self, request: web.Request) -> str:
        """The session behind the request; without one the page reloads and is issued one."""
        token = await self._session_of(request)
        if token is None:
            raise web.HTTPUnauthorized(text='{"error": "no_session"}', content_type="application/json")
        return token

    def _refusal(self, request: web.Request, code: str) -> web.HTTPBadRequest:
        """A 400 the page can show: the code for scripts, a kind sentence for the person."""
        strings = self.pages.get_template(f"web/strings.{_language(request)}.j2").module
        body = json.dumps({"error": code, "message": strings.bad_request}, ensure_ascii=False)  # type: ignore[attr-defined]
        return web.HTTPBadRequest(text=body, content_type="application/json")

    def _after(self, request: web.Request, value: object) -> int:
        after = _message_id(value)
        if after is None:
            raise self._refusal(request, "bad_after")
        return after

    async def send(self, request: web.Request) -> web.Response:
        _guard(request)
        token = await self._token(request)
        try:
            body = await request.json()
            client_id = str(body.get("client_id", ""))
            event = _event(body)
            after = self._after(request, body.get("after"))
        except (ValueError, TypeError, AttributeError, OverflowError):
            raise self._refusal(request, "bad_request") from None
        if not CLIENT_ID.match(client_id):
            raise self._refusal(request, "bad_client_id")
        await self.runner.handle(_envelope(request, token, client_id, event))
        return await self._messages(request, token, after)

    async def photo(self, request: web.Request) -> web.Response:
        """A photo from the phone's camera or gallery (or a PDF: a family card, a letter), read
        with a size cap."""
        _guard(request)
        token = await self._token(request)
        try:
            client_id, after_text, data, too_large = await _read_upload(request, self.runner.services.max_photo_bytes)
        except (ValueError, AssertionError):  # not multipart (JSON, a bare body), cut short, not UTF-8
            raise self._refusal(request, "bad_upload") from None
        if not CLIENT_ID.match(client_id):
            raise self._refusal(request, "bad_client_id")
        after = self._after(request, after_text)

        async def fetch(max_bytes: int) -> bytes:
            if too_large:
                raise PhotoTooLarge()
            return data

        # A PDF by its first bytes is a document; storage checks the bytes again either way.
        event = Inbound(kind="document") if data.startswith(PDF_HEADER) else Inbound(kind="photo")
        await self.runner.handle(_envelope(request, token, client_id, event), fetch)
        return await self._messages(request, token, after)

    async def messages(self, request: web.Request) -> web.Response:
        token = await self._token(request)
        return await self._messages(request, token, self._after(request, request.query.get("after")))

    async def stream(self, request: web.Request) -> web.StreamResponse:
        """New messages as Server-Sent Events, each with the highest outbox id sent so far as
        its event id: a reconnecting browser sends the last one back (`Last-Event-ID`) and gets
        exactly what it missed. The session cookie is checked as for `messages`."""
        token = await self._token(request)
        chat_id = chat_id_of(token)
        after = max(_cursor(request.headers.get("Last-Event-ID")), _cursor(request.query.get("after")))
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache, no-transform",
                "X-Accel-Buffering": "no",  # nginx: pass each event on at once
            }
        )
        # Listening starts before the answer does: a row committed while the headers go out
        # wakes this stream instead of being taken for a chat with no page open (a push).
        with self.live.listen(chat_id, after) as listener:
            await response.prepare(request)
            await response.write(f"retry: {RETRY_MS}\n\n".encode())
            while not self.live.closing:
                listener.woken.clear()  # before reading: a wake during the read is not lost
                found = await self._read(chat_id, listener.last_id)
                events = []
                for message in found:  # a late row (lower id) does not move the cursor back
                    listener.last_id = max(listener.last_id, message["id"])
                    events.append(_event_bytes(listener.last_id, message))
                if events:
                    await response.write(b"".join(events))
                if len(found) == PAGE:
                    continue  # a full page may have more behind it
                try:
                    await asyncio.wait_for(listener.woken.wait(), self.heartbeat_seconds)
                except TimeoutError:
                    await response.write(b": keep-alive\n\n")
        return response

    async def push_key(self, request: web.Request) -> web.Response:
        """The office's VAPID public key, for the page's `pushManager.subscribe`."""
        if self.push is None:
            raise web.HTTPNotFound(text='{"error": "no_push"}', content_type="application/json")
        return web.json_response({"key": public_key(self.push.vapid)})

    async def subscribe(self, request: web.Request) -> web.Response:
        """Keep this browser's push subscription for the cookie's chat."""
        _guard(request)
        chat_id = chat_id_of(await self._token(request))
        try:
            body = await request.json()
        except ValueError:
            body = None
        found = parse_subscription(body, allow_local_http=self.allow_local_push)
        if found is None:
            raise web.HTTPBadRequest(text='{"error": "bad_subscription"}', content_type="application/json")
        await self.runner.db.run(
            push_subscriptions.subscribe,
            chat_id=chat_id,
            endpoint=found.endpoint,
            p256dh=found.p256dh,
            auth=found.auth,
            now=self.runner.clock(),
        )
        return web.json_response({"ok": True})

    async def unsubscribe(self, request: web.Request) -> web.Response:
        _guard(request)
        chat_id = chat_id_of(await self._token(request))
        try:
            endpoint = str((await request.json()).get("endpoint", ""))[:2000]
        except (ValueError, AttributeError):
            raise web.HTTPBadRequest(text='{"error": "bad_request"}', content_type="application/json") from None
        await self.runner.db.run(push_subscriptions.unsubscribe, chat_id=chat_id, endpoint=endpoint)
        return web.json_response({"ok": True})

    async def service_worker(self, request: web.Request) -> web.Response:
        """The service worker that shows a push as "a new reply", in the page's language."""
        language = _language(request)
        strings = self.pages.get_template(f"web/strings.{language}.j2").module
        body = self.pages.get_template("web/sw.js.j2").render(
            words={"title": strings.bot, "body": strings.push_body}  # type: ignore[attr-defined]
        )
        response = web.Response(text=body, content_type="text/javascript")
        response.headers["Cache-Control"] = "no-cache"
        response.headers["Service-Worker-Allowed"] = "/"
        return response

    async def _read(self, chat_id: str, after: int) -> list[dict[str, Any]]:
        """The chat's messages after `after`, then marked delivered (the page has them now).
        Neither waits for SQLite's write lock: while another process holds it, the marking
        is left to a later read, which finds the rows again (the page shows each id once)."""

        pending: list[int] = []

        def read(session: Any) -> list[dict[str, Any]]:
            rows = outbox.messages_after(session, channel=CHANNEL, chat_id=chat_id, after_id=after, limit=PAGE)
            pending.extend(stored_id(r) for r in rows if r.status == outbox.PENDING)
            return [{"id": r.id, **OutMessage.from_json(r.payload).to_json()} for r in rows]

        found = await self.runner.db.glance(read)
        if pending:
            await self.runner.db.run_unless_busy(outbox.mark_delivered, message_ids=pending, now=self.runner.clock())
            self.runner.metrics.delivered(CHANNEL, len(pending))  # counted once: when first read
        return found

    async def _messages(self, request: web.Request, token: str, after: int) -> web.Response:
        found = await self._read(chat_id_of(token), after)
        last = max([after, *(message["id"] for message in found)])
        return web.json_response({"messages": found, "last_id": last})


async def _read_upload(request: web.Request, limit: int) -> tuple[str, str, bytes, bool]:
    """The upload form's client id, `after`, and the file (read with a size cap: too large is
    flagged, not read on). A body that is not the page's form raises ValueError or
    AssertionError (aiohttp's check that it is multipart at all)."""
    client_id, after, data, too_large = "", "", b"", False
    reader = await request.multipart()
    async for part in reader:
        if not isinstance(part, BodyPartReader):  # a form nested in the form: not the page's
            continue
        if part.name == "client_id":
            client_id = (await part.text())[:64]
        elif part.name == "after":
            after = (await part.text()).strip()[:64]
        elif part.name == "photo":
            chunks, size = [], 0
            while chunk := await part.read_chunk(65536):
                size += len(chunk)
                if size > limit:
                    too_large = True
                    break
                chunks.append(chunk)
            data = b"".join(chunks)
    return client_id, after, data, too_large


def _event_bytes(cursor: int, message: dict[str, Any]) -> bytes:
    """One message as an SSE event (JSON has no raw newlines, so it is one `data:` line). Its
    id is the stream's cursor, the highest message id sent so far: what a reconnect resumes
    after (the message's own id is in the data)."""
    return f"id: {cursor}\nevent: message\ndata: {json.dumps(message, ensure_ascii=False)}\n\n".encode()


def _build(wiring: Wiring) -> WebChat:
    settings = wiring.settings
    extra = settings.extra
    vapid = load_vapid(settings.data_dir, extra.get("webchat_vapid_private_key"))
    push = WebPush(
        wiring.db,
        channel=CHANNEL,
        vapid=vapid,
        subject=extra.get("webchat_vapid_subject") or default_subject(settings.public_url, settings.console_url),
        chat_url=settings.console_url + "/",
        clock=wiring.clock,
    )
    return WebChat(
        wiring.runner,
        settings,
        push=push,
        allow_local_push=bool(extra.get("webchat_push_allow_local_http")),
    )


def _validate(settings: Settings) -> None:
    subject = settings.extra.get("webchat_vapid_subject")
    if subject and not str(subject).startswith(("mailto:", "https://")):
        raise ValueError("WEBCHAT_VAPID_SUBJECT must be a mailto: address or an https:// URL")


SPEC = ChannelSpec(
    name=CHANNEL,
    build=_build,
    validate=_validate,
    environment={
        "WEBCHAT_VAPID_PRIVATE_KEY": ("webchat_vapid_private_key", str),
        "WEBCHAT_VAPID_SUBJECT": ("webchat_vapid_subject", str),
        "WEBCHAT_PUSH_ALLOW_LOCAL_HTTP": (
            "webchat_push_allow_local_http",
            lambda raw: raw.strip().lower() in ("1", "true", "yes"),
        ),
    },
    pushes=False,
)

"""A local fake of the Telegram Bot API, so the real python-telegram-bot can be tested end to end.

Why a server and not a mock: PTB's own request encoding, error mapping (RetryAfter, Forbidden,
BadRequest, Conflict), Update parsing and file downloads are part of what we want to prove, and
they only run when a real HTTP server answers. This one listens on 127.0.0.1 (a free port) and
speaks the real wire format::

    async with FakeTelegramAPI() as fake:
        bot = telegram.Bot(fake.token, base_url=fake.base_url, base_file_url=fake.base_file_url)
        update = await fake.send_text(42, "/start")        # user 42 writes to the bot
        ...                                                 # the bot polls, or gets a webhook POST
        [reply] = await fake.wait_for_sent(42, 1)           # what the bot answered

The test plays the users (``send_text``, ``send_photo``, ``press_button`` ...); the bot under
test calls the API. Limits that real bots trip over are enforced (text length, empty text,
callback_data size, unknown chats, blocked users, "message is not modified", unparsable
HTML/Markdown), and failures (429, 5xx) and flood control can be injected.
Known simplifications: outgoing messages carry no ``entities``; text length is counted in
code points; webhook URLs may be plain http on any port; only private chats are modelled fully.
"""

from __future__ import annotations

import asyncio
import copy
import html
import io
import itertools
import json
import math
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import EllipsisType
from typing import Any

import aiohttp
from aiohttp import web

JSON = dict[str, Any]
DEFAULT_TOKEN = "123456:TEST-TOKEN"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
TEXT_LIMIT, CAPTION_LIMIT, CALLBACK_DATA_LIMIT = 4096, 1024, 64

_TOKEN_SHAPE = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
_SECRET_SHAPE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_COMMAND_SHAPE = re.compile(r"^[a-z0-9_]{1,32}$")
# Form bodies carry every value as a string; these say how to read the fields we look at.
_INT_FIELDS = {
    "chat_id",
    "message_id",
    "offset",
    "limit",
    "timeout",
    "reply_to_message_id",
    "max_connections",
    "message_thread_id",
    "cache_time",
    "user_id",
    "live_period",
    "heading",
    "proximity_alert_radius",
}
_FLOAT_FIELDS = {"latitude", "longitude", "horizontal_accuracy"}
_BOOL_FIELDS = {
    "drop_pending_updates",
    "disable_notification",
    "protect_content",
    "show_alert",
    "allow_sending_without_reply",
    "has_spoiler",
    "show_caption_above_media",
    "disable_web_page_preview",
}
_JSON_FIELDS = {
    "reply_markup",
    "reply_parameters",
    "allowed_updates",
    "commands",
    "scope",
    "entities",
    "caption_entities",
    "link_preview_options",
    "media",
}
# Update kinds Telegram leaves out unless asked for explicitly.
_OPT_IN_UPDATES = {"chat_member", "message_reaction", "message_reaction_count"}
_CHAT_ACTIONS = {
    "typing",
    "upload_photo",
    "record_video",
    "upload_video",
    "record_voice",
    "upload_voice",
    "upload_document",
    "choose_sticker",
    "find_location",
    "record_video_note",
    "upload_video_note",
}
_INLINE_ACTIONS = {
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "pay",
    "callback_game",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
}
_HTML_TAGS = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "span",
    "tg-spoiler",
    "a",
    "code",
    "pre",
    "blockquote",
    "tg-emoji",
}
_HTML_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)(\s[^<>]*)?>")
_HTML_ENTITY = re.compile(r"&(#\d+|#x[0-9a-fA-F]+|lt|gt|amp|quot);")
_MDV2_RESERVED = set("_*[]()~`>#+-=|{}.!")
_MDV2_NAMES = {"*": "Bold", "_": "Italic", "__": "Underline", "~": "Strikethrough", "||": "Spoiler", "[": "TextUrl"}
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)


class ApiError(Exception):
    """A Bot API failure, answered as ``{"ok": false, "error_code": ..., "description": ...}``."""

    def __init__(self, code: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.parameters = code, description, parameters


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


@dataclass
class UploadedFile:
    """A file the bot uploaded in a multipart request (e.g. ``sendPhoto`` with bytes)."""

    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class SentMessage:
    """A message the bot sent, as the chat now shows it: edits and deletion update it in place.

    ``text`` is the text (or caption) after HTML/Markdown parsing, as the user sees it; ``raw_text``
    is what the bot sent. ``reply_markup`` is the markup the bot sent (inline or reply keyboard).
    """

    message_id: int
    chat_id: int
    text: str | None
    reply_markup: JSON | None
    method: str
    date: int
    raw_text: str | None = None
    parse_mode: str | None = None
    photo: bytes | None = None
    location: tuple[float, float] | None = None
    reply_to_message_id: int | None = None
    edit_date: int | None = None
    deleted: bool = False
    payload: JSON = field(default_factory=dict, repr=False)  # the Message object as returned to the bot


@dataclass
class WebhookDelivery:
    """One POST to the webhook: ``kind`` is "queue" (normal delivery), "again" or "manual"."""

    update_id: int | None
    status: int | None  # None when the connection failed
    error: str | None
    kind: str


@dataclass
class _File:
    file_id: str
    file_unique_id: str
    file_path: str
    file_size: int
    data: bytes | None


@dataclass
class _Chat:
    id: int
    info: JSON
    messages: dict[int, JSON] = field(default_factory=dict)
    next_message_id: int = 1

    def take_message_id(self) -> int:
        """Private chats number messages of both sides in one sequence, as Telegram does."""
        self.next_message_id += 1
        return self.next_message_id - 1


class _Bucket:
    """Token bucket for a chat's flood control: ``capacity`` sends at once, refilled at ``rate``
    per second (Telegram: about one a second, "short bursts" allowed)."""

    def __init__(self, rate: float, capacity: float) -> None:
        self.rate, self.capacity, self.tokens, self.stamp = rate, capacity, capacity, time.monotonic()

    def wait(self, now: float) -> float:
        self.tokens = min(self.capacity, self.tokens + max(0.0, now - self.stamp) * self.rate)
        self.stamp = max(self.stamp, now)
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self, now: float) -> None:
        self.tokens -= 1


class _Window:
    """The bot's flood control as Telegram states it: no more than ``rate`` messages in any one
    second (for a rate under one, one message per ``1/rate`` seconds). A sliding log of the
    sends accepted, not a token bucket: a bucket that starts full lets a second's worth through
    at once and then another second's worth in the same second."""

    def __init__(self, rate: float) -> None:
        self.count = max(1, math.floor(rate))
        self.seconds = self.count / rate
        self.times: deque[float] = deque()

    def wait(self, now: float) -> float:
        while self.times and self.times[0] <= now - self.seconds:
            self.times.popleft()
        return 0.0 if len(self.times) < self.count else self.times[0] + self.seconds - now

    def take(self, now: float) -> None:
        self.times.append(now)


class _Pulse:
    """Wakes every waiter on any change. Waiters take the current event before checking their
    condition, so a change between the check and the wait cannot be missed."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def fire(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            event = self._event
            if predicate():
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:  # not wait_for: on 3.11 it can swallow a cancel that races a set event
                async with asyncio.timeout(remaining):
                    await event.wait()
            except TimeoutError:
                pass


class FakeUser:
    """A Telegram user played by the test; a thin shortcut to the fake's user-side methods."""

    def __init__(
        self,
        fake: FakeTelegramAPI,
        user_id: int,
        first_name: str,
        language_code: str | None,
        last_name: str | None = None,
        username: str | None = None,
    ) -> None:
        self.fake, self.id, self.first_name = fake, user_id, first_name
        self.language_code, self.last_name, self.username = language_code, last_name, username

    def as_dict(self) -> JSON:
        user: JSON = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            if getattr(self, key) is not None:
                user[key] = getattr(self, key)
        return user

    def chat_dict(self) -> JSON:
        chat: JSON = {"id": self.id, "type": "private", "first_name": self.first_name}
        for key in ("last_name", "username"):
            if getattr(self, key) is not None:
                chat[key] = getattr(self, key)
        return chat

    async def send_text(self, text: str) -> JSON:
        return await self.fake.send_text(self.id, text)

    async def send_photo(self, data: bytes, caption: str | None = None) -> JSON:
        return await self.fake.send_photo(self.id, data, caption)

    async def send_location(self, latitude: float, longitude: float) -> JSON:
        return await self.fake.send_location(self.id, latitude, longitude)

    async def press_button(self, message_id: int, data: str, *, check: bool = True) -> JSON:
        return await self.fake.press_button(self.id, message_id, data, check=check)

    def sent(self) -> list[SentMessage]:
        return self.fake.sent(self.id)

    async def wait_for_sent(self, count: int, timeout: float = 5.0) -> list[SentMessage]:
        return await self.fake.wait_for_sent(self.id, count, timeout)


class FakeTelegramAPI:
    """The fake Bot API server. Use as ``async with`` or ``await start()`` / ``await close()``.

    Must be used from the event loop it was started on (tests run the bot in the same loop or in a
    subprocess talking HTTP)."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        bot_username: str = "satupintu_test_bot",
        global_rate: float | None = None,
        per_chat_rate: float | None = None,
        per_chat_burst: int = 1,
        first_update_id: int = 1,
        webhook_timeout: float = 10.0,
    ) -> None:
        self.token = token
        self.bot_user: JSON = {
            "id": int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else 1,
            "is_bot": True,
            "first_name": "Satupintu Test",
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self.calls: list[tuple[str, JSON]] = []  # every request that reached a method, failed or not
        self.errors: list[tuple[str, JSON, int, str]] = []  # (method, params, status, description)
        self.callback_answers: dict[str, JSON] = {}
        self.webhook_deliveries: list[WebhookDelivery] = []
        self.updates_by_id: dict[int, JSON] = {}  # every update ever created, delivered or not
        self.count_sent = 0
        self.count_429 = 0
        self.webhook_timeout = webhook_timeout
        # Seconds each send takes to answer (a slow network): sends are then in flight when a
        # test kills the bot or takes its database away, as they are in real life.
        self.send_latency = 0.0
        self._users: dict[int, FakeUser] = {}
        self._chats: dict[int, _Chat] = {}
        self._sent: dict[int, list[SentMessage]] = {}
        self._log: dict[int, list[str]] = {}
        self._blocked: set[int] = set()
        self._files: dict[str, _File] = {}
        self._file_paths: dict[str, _File] = {}
        self._queries: dict[str, int] = {}  # callback query id -> chat id (until answered)
        self._commands: dict[tuple[str, str], list[JSON]] = {}
        self._pending: list[JSON] = []  # queued updates: not yet confirmed (polling) or delivered (webhook)
        self._allowed: set[str] | None = None
        self._update_ids = itertools.count(first_update_id)
        self._ids = itertools.count(1)
        self._poll_generation = 0
        self._failures: dict[str, deque[tuple[int, int, str | None]]] = {}
        self._global = _Window(global_rate) if global_rate else None
        self._per_chat_rate = per_chat_rate
        self._per_chat_burst = per_chat_burst
        self.send_times: list[float] = []  # time.monotonic() of every send accepted, in order
        self._chat_buckets: dict[int, _Bucket] = {}
        self._webhook: JSON | None = None  # url, secret, max_connections, allowed_updates
        self._webhook_error: tuple[int, str] | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self._pulse = _Pulse()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._port = 0
        self._methods: dict[str, tuple[str, Callable[[JSON], Awaitable[Any]]]] = {
            name.lower(): (name, handler)
            for name, handler in {
                "getMe": self._get_me,
                "getUpdates": self._get_updates,
                "setWebhook": self._set_webhook,
                "deleteWebhook": self._delete_webhook,
                "getWebhookInfo": self._get_webhook_info,
                "sendMessage": self._send_message,
                "sendPhoto": self._send_photo,
                "sendLocation": self._send_location,
                "sendChatAction": self._send_chat_action,
                "answerCallbackQuery": self._answer_callback_query,
                "editMessageText": self._edit_message_text,
                "editMessageReplyMarkup": self._edit_message_reply_markup,
                "deleteMessage": self._delete_message,
                "getFile": self._get_file,
                "setMyCommands": self._set_my_commands,
                "getMyCommands": self._get_my_commands,
                "deleteMyCommands": self._delete_my_commands,
            }.items()
        }

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Listen on a free port of 127.0.0.1. Long polls are cancelled when their client goes
        away (a killed bot), so they cannot hold the shutdown."""
        app = web.Application(client_max_size=64 * 1024 * 1024)  # Telegram accepts 50 MB uploads
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self._port = self._runner.addresses[0][1]
        self._session = aiohttp.ClientSession()

    async def close(self) -> None:
        self._closing = True
        self._pulse.fire()  # ends waiting long polls
        await self._stop_webhook_worker()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def __aenter__(self) -> FakeTelegramAPI:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self._port}/file/bot"

    # ------------------------------------------------------------------ test side: users and chats
    def add_user(
        self,
        user_id: int,
        first_name: str = "Siti",
        language_code: str | None = "id",
        *,
        last_name: str | None = None,
        username: str | None = None,
    ) -> FakeUser:
        """Create (or replace) a user's profile. The bot can't write to them until they write first."""
        self._users[user_id] = FakeUser(self, user_id, first_name, language_code, last_name, username)
        return self._users[user_id]

    def user(self, user_id: int, first_name: str | None = None, language_code: str | None = None) -> FakeUser:
        """Get the user, creating one with the defaults; given fields update the profile."""
        found = self._users.get(user_id) or self.add_user(user_id)
        found.first_name = first_name or found.first_name
        found.language_code = language_code or found.language_code
        return found

    def add_chat(self, chat_id: int, *, first_name: str | None = None, title: str | None = None) -> None:
        """Make a chat known without a message, as if the user had pressed Start long ago."""
        if chat_id > 0:
            self._chat_of(self.user(chat_id, first_name))
        elif chat_id not in self._chats:
            self._chats[chat_id] = _Chat(chat_id, {"id": chat_id, "type": "group", "title": title or "Group"})

    def block(self, user_id: int) -> None:
        """The user blocked the bot: every send to their chat answers 403 until ``unblock``."""
        self._blocked.add(user_id)

    def unblock(self, user_id: int) -> None:
        self._blocked.discard(user_id)

    async def send_text(self, user_id: int, text: str) -> JSON:
        content: JSON = {"text": text}
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": _utf16_len(command)}]
        return self._user_message(user_id, content, text)

    async def send_photo(self, user_id: int, data: bytes, caption: str | None = None) -> JSON:
        content: JSON = {"photo": self._store_photo(data)}
        if caption is not None:
            content["caption"] = caption
        return self._user_message(user_id, content, f"[photo {len(data)} bytes] {caption or ''}".strip())

    async def send_document(self, user_id: int, data: bytes, file_name: str, mime_type: str) -> JSON:
        """A file sent as a document: Telegram takes the name and type from the sender's phone,
        so neither says what the bytes are."""
        file = self._store_file(data, "documents", file_name.rpartition(".")[2] or "bin")
        document = {
            "file_id": file.file_id,
            "file_unique_id": file.file_unique_id,
            "file_name": file_name,
            "mime_type": mime_type,
            "file_size": file.file_size,
        }
        return self._user_message(user_id, {"document": document}, f"[document {file_name} {len(data)} bytes]")

    async def send_location(self, user_id: int, latitude: float, longitude: float) -> JSON:
        content = {"location": {"latitude": latitude, "longitude": longitude}}
        return self._user_message(user_id, content, f"[location {latitude}, {longitude}]")

    async def send_sticker(self, user_id: int, emoji: str = "👍") -> JSON:
        file = self._store_file(b"RIFF-fake-webp", "stickers", "webp")
        sticker = {
            "file_id": file.file_id,
            "file_unique_id": file.file_unique_id,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
            "file_size": file.file_size,
        }
        return self._user_message(user_id, {"sticker": sticker}, f"[sticker {emoji}]")

    async def send_voice(self, user_id: int, data: bytes = b"OggS-fake-voice", duration: int = 2) -> JSON:
        file = self._store_file(data, "voice", "oga")
        voice = {
            "file_id": file.file_id,
            "file_unique_id": file.file_unique_id,
            "duration": duration,
            "mime_type": "audio/ogg",
            "file_size": file.file_size,
        }
        return self._user_message(user_id, {"voice": voice}, f"[voice {duration}s]")

    async def send_contact(self, user_id: int, phone_number: str, *, own: bool = True) -> JSON:
        user = self.user(user_id)
        contact: JSON = {"phone_number": phone_number, "first_name": user.first_name}
        if own:  # shared with the "share my phone number" button
            contact["user_id"] = user_id
        return self._user_message(user_id, {"contact": contact}, f"[contact {phone_number}]")

    async def press_button(self, user_id: int, message_id: int, data: str, *, check: bool = True) -> JSON:
        """The user taps an inline button. With ``check`` the button must be on the message as it
        is now (a real client can't press a button that was edited away)."""
        user = self.user(user_id)
        chat = self._chat_of(user)
        message = chat.messages.get(message_id)
        buttons = [
            b.get("callback_data")
            for row in ((message or {}).get("reply_markup") or {}).get("inline_keyboard", [])
            for b in row
        ]
        if check and data not in buttons:
            raise ValueError(
                f"no button with data {data!r} on message {message_id} in chat {chat.id}; "
                f"buttons now: {buttons}\n{self.transcript(chat.id)}"
            )
        query_id = str(4_000_000_000_000_000 + next(self._ids))
        self._queries[query_id] = chat.id
        query: JSON = {"id": query_id, "from": user.as_dict(), "chat_instance": str(-7_000_000 - chat.id), "data": data}
        # A message the client no longer has comes as an InaccessibleMessage (date 0).
        query["message"] = (
            copy.deepcopy(message) if message else {"message_id": message_id, "chat": chat.info, "date": 0}
        )
        self._note(chat.id, f"  user pressed {data!r} on #{message_id}")
        return self._push_update("callback_query", query)

    async def push_update(self, kind: str, payload: JSON) -> JSON:
        """Escape hatch: queue any other update type (``edited_message``, ``my_chat_member`` ...)."""
        return self._push_update(kind, payload)

    # ------------------------------------------------------------------ test side: observing
    def sent(self, chat_id: int) -> list[SentMessage]:
        return list(self._sent.get(chat_id, []))

    def calls_to(self, method: str) -> list[JSON]:
        return [params for name, params in self.calls if name.lower() == method.lower()]

    def transcript(self, chat_id: int) -> str:
        return "\n".join(self._log.get(chat_id, ["  (nothing happened in this chat)"]))

    async def wait_for_sent(self, chat_id: int, count: int, timeout: float = 5.0) -> list[SentMessage]:
        if not await self._pulse.until(lambda: len(self._sent.get(chat_id, [])) >= count, timeout):
            raise AssertionError(
                f"expected at least {count} messages to chat {chat_id} within {timeout}s, "
                f"got {len(self.sent(chat_id))}; transcript:\n{self.transcript(chat_id)}"
            )
        return self.sent(chat_id)

    async def wait_for_calls(self, method: str, count: int = 1, timeout: float = 5.0) -> list[JSON]:
        if not await self._pulse.until(lambda: len(self.calls_to(method)) >= count, timeout):
            raise AssertionError(
                f"expected {count} {method} calls within {timeout}s, got "
                f"{len(self.calls_to(method))}; calls: {[m for m, _ in self.calls]}"
            )
        return self.calls_to(method)

    # ------------------------------------------------------------------ test side: failures
    def fail_next(
        self, method: str, status: int = 429, retry_after: int = 1, count: int = 1, description: str | None = None
    ) -> None:
        """The next ``count`` calls of ``method`` fail with ``status`` before doing anything."""
        queue = self._failures.setdefault(method.lower(), deque())
        queue.extend([(status, retry_after, description)] * count)

    # ------------------------------------------------------------------ test side: webhook
    async def deliver_again(self, update_id: int) -> int:
        """POST an update that was already delivered once more (Telegram's at-least-once)."""
        return await self._post_webhook(self.updates_by_id[update_id], ..., "again")

    async def post_to_webhook(
        self, update: JSON, secret: str | EllipsisType | None = ..., *, url: str | None = None
    ) -> int:
        """One POST to the webhook with ``secret`` (default: the one set; None: no header)."""
        return await self._post_webhook(update, secret, "manual", url)

    async def _post_webhook(
        self, update: JSON, secret: str | EllipsisType | None, kind: str, url: str | None = None
    ) -> int:
        hook = self._webhook or {}
        target = url or hook.get("url")
        if not target:
            raise RuntimeError("no webhook is set")
        status, error = await self._post(target, update, hook.get("secret") if secret is ... else secret)
        self.webhook_deliveries.append(WebhookDelivery(update.get("update_id"), status, error, kind))
        if status is None:
            raise ConnectionError(error)
        return status

    async def _post(self, url: str, update: JSON, secret: str | None) -> tuple[int | None, str | None]:
        assert self._session is not None, "start() the fake first"
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers[SECRET_HEADER] = secret
        try:
            async with self._session.post(
                url, data=json.dumps(update), headers=headers, timeout=aiohttp.ClientTimeout(total=self.webhook_timeout)
            ) as response:
                await response.read()
                return response.status, None if response.status < 300 else f"{response.status} {response.reason}"
        except (aiohttp.ClientError, TimeoutError) as error:
            return None, f"{error.__class__.__name__}: {error}"

    async def _webhook_worker(self) -> None:
        """Deliver queued updates one at a time, in order, retrying each until a 2xx."""
        backoff = 0.05
        while True:
            if not await self._pulse.until(lambda: bool(self._pending), 3600):
                continue
            update = self._pending[0]
            assert self._webhook is not None
            status, error = await self._post(self._webhook["url"], update, self._webhook.get("secret"))
            self.webhook_deliveries.append(WebhookDelivery(update["update_id"], status, error, "queue"))
            if status is not None and 200 <= status < 300:
                if self._pending and self._pending[0] is update:
                    self._pending.pop(0)
                backoff = 0.05
                self._pulse.fire()
                continue
            message = f"Wrong response from the webhook: {error}" if status else (error or "Connection failed")
            self._webhook_error = (int(time.time()), message)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 1.0)

    async def _stop_webhook_worker(self) -> None:
        task, self._webhook_task = self._webhook_task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    # ------------------------------------------------------------------ HTTP
    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        token, method = request.match_info["token"], request.match_info["method"]
        if token != self.token:
            if _TOKEN_SHAPE.match(token):
                return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        params = await _read_params(request)
        name, handler = self._methods.get(method.lower(), (method, None))
        self.calls.append((name, params))
        self._pulse.fire()
        try:
            if handler is None:
                raise ApiError(404, "Not Found")
            injected = self._injected_failure(name, params)
            if injected is not None:
                return injected
            result = await handler(params)
            if self.send_latency and name.startswith("send"):
                await asyncio.sleep(self.send_latency)  # accepted already: only the answer is late
        except ApiError as error:
            return self._error_response(name, params, error)
        return web.json_response({"ok": True, "result": result})

    def _injected_failure(self, name: str, params: JSON) -> web.Response | None:
        queue = self._failures.get(name.lower())
        if not queue:
            return None
        status, retry_after, description = queue.popleft()
        if status == 429:
            raise ApiError(
                429, description or f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
            )
        if status in (502, 504):  # Telegram's nginx answers these with HTML, not JSON
            phrase = "Bad Gateway" if status == 502 else "Gateway Time-out"
            body = f"<html>\r\n<head><title>{status} {phrase}</title></head>\r\n<body>\r\n<center><h1>{status} {phrase}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
            self.errors.append((name, params, status, phrase))
            return web.Response(status=status, text=body, content_type="text/html")
        defaults = {
            400: "Bad Request",
            401: "Unauthorized",
            403: "Forbidden",
            404: "Not Found",
            409: "Conflict",
            500: "Internal Server Error",
        }
        raise ApiError(status, description or defaults.get(status, "Internal Server Error"))

    def _error_response(self, method: str, params: JSON, error: ApiError) -> web.Response:
        if error.code == 429:
            self.count_429 += 1
        self.errors.append((method, params, error.code, error.description))
        chat_id = params.get("chat_id")
        if isinstance(chat_id, int):
            self._note(chat_id, f"  ✗ {method} → {error.code} {error.description}")
        body: JSON = {"ok": False, "error_code": error.code, "description": error.description}
        if error.parameters:
            body["parameters"] = error.parameters
        return web.json_response(body, status=error.code)

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        found = self._file_paths.get(request.match_info["path"])
        if request.match_info["token"] != self.token or found is None or found.data is None:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        return web.Response(body=found.data, content_type="application/octet-stream")

    # ------------------------------------------------------------------ bot methods: updates and webhook
    async def _get_me(self, p: JSON) -> JSON:
        return self.bot_user

    async def _get_updates(self, p: JSON) -> list[JSON]:
        if self._webhook:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        if "allowed_updates" in p:
            self._allowed = set(p["allowed_updates"] or []) or None
        offset = p.get("offset")
        if isinstance(offset, int) and offset < 0:
            self._pending = self._pending[offset:]
        elif isinstance(offset, int):
            self._pending = [u for u in self._pending if u["update_id"] >= offset]
        limit = min(max(int(p.get("limit") or 100), 1), 100)
        self._poll_generation += 1
        generation = self._poll_generation
        self._pulse.fire()  # an older long poll still waiting is now superseded
        await self._pulse.until(
            lambda: (
                bool(self._pending) or self._closing or self._webhook is not None or generation != self._poll_generation
            ),
            max(float(p.get("timeout") or 0), 0.0),
        )
        if generation != self._poll_generation:
            raise ApiError(
                409, "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
            )
        if self._webhook:
            raise ApiError(409, "Conflict: terminated by setWebhook request")
        return copy.deepcopy(self._pending[:limit])

    async def _set_webhook(self, p: JSON) -> bool:
        url = p.get("url") or ""
        if not url:
            return await self._delete_webhook(p)
        if not url.startswith(("http://", "https://")):  # real: https only, ports 80/88/443/8443
            raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
        secret = p.get("secret_token")
        if secret is not None and not _SECRET_SHAPE.match(str(secret)):
            raise _bad("secret token contains unallowed characters")
        if not 1 <= int(p.get("max_connections") or 40) <= 100:
            raise _bad("bad webhook: max_connections must be between 1 and 100")
        if p.get("drop_pending_updates"):
            self._pending.clear()
        if "allowed_updates" in p:
            self._allowed = set(p["allowed_updates"] or []) or None
        await self._stop_webhook_worker()
        self._webhook = {"url": url, "secret": secret, "max_connections": int(p.get("max_connections") or 40)}
        self._webhook_error = None
        self._webhook_task = asyncio.create_task(self._webhook_worker())
        self._pulse.fire()
        return True

    async def _delete_webhook(self, p: JSON) -> bool:
        await self._stop_webhook_worker()
        self._webhook = None
        if p.get("drop_pending_updates"):
            self._pending.clear()
        self._pulse.fire()
        return True

    async def _get_webhook_info(self, p: JSON) -> JSON:
        info: JSON = {
            "url": (self._webhook or {}).get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }
        if self._webhook:
            info.update(max_connections=self._webhook["max_connections"], ip_address="127.0.0.1")
            if self._allowed is not None:
                info["allowed_updates"] = sorted(self._allowed)
        if self._webhook_error:
            info.update(last_error_date=self._webhook_error[0], last_error_message=self._webhook_error[1])
        return info

    # ------------------------------------------------------------------ bot methods: sending
    async def _send_message(self, p: JSON) -> JSON:
        chat = self._known_chat(p)
        raw = p.get("text")
        text = _parse_text(str(raw) if raw is not None else "", p.get("parse_mode"))
        if not text.strip():
            raise _bad("message text is empty")
        if len(text) > TEXT_LIMIT:
            raise _bad("message is too long")
        return self._bot_message(chat, "sendMessage", p, {"text": text}, text=text, raw_text=raw)

    async def _send_photo(self, p: JSON) -> JSON:
        chat = self._known_chat(p)
        photo, data = p.get("photo"), None
        if isinstance(photo, UploadedFile):
            data = photo.data
        elif isinstance(photo, str) and photo in self._files:
            data = self._files[photo].data
        elif not (isinstance(photo, str) and photo.startswith(("http://", "https://"))):
            raise _bad("wrong file identifier/HTTP URL specified" if photo else "there is no photo in the request")
        content: JSON = {"photo": self._store_photo(data or b"")}
        caption = None
        if p.get("caption") is not None:
            caption = _parse_text(str(p["caption"]), p.get("parse_mode"))
            if len(caption) > CAPTION_LIMIT:
                raise _bad("message caption is too long")
            content["caption"] = caption
        return self._bot_message(chat, "sendPhoto", p, content, text=caption, raw_text=p.get("caption"), photo=data)

    async def _send_location(self, p: JSON) -> JSON:
        chat = self._known_chat(p)
        lat, lon = p.get("latitude"), p.get("longitude")
        if not isinstance(lat, (int, float)) or not -90 <= lat <= 90:
            raise _bad("wrong latitude")
        if not isinstance(lon, (int, float)) or not -180 <= lon <= 180:
            raise _bad("wrong longitude")
        return self._bot_message(
            chat,
            "sendLocation",
            p,
            {"location": {"latitude": lat, "longitude": lon}},
            text=None,
            raw_text=None,
            location=(float(lat), float(lon)),
        )

    async def _send_chat_action(self, p: JSON) -> bool:
        self._known_chat(p)
        if p.get("action") not in _CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        return True

    async def _answer_callback_query(self, p: JSON) -> bool:
        query_id = str(p.get("callback_query_id") or "")
        if query_id not in self._queries:  # unknown, or answered already
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        if len(str(p.get("text") or "")) > 200:
            raise _bad("MESSAGE_TOO_LONG")
        chat_id = self._queries.pop(query_id)
        self.callback_answers[query_id] = p
        self._note(chat_id, f"  bot answered the press {p.get('text') or ''}".rstrip())
        return True

    async def _edit_message_text(self, p: JSON) -> JSON:
        chat, message, sent = self._editable(p)
        if "text" not in message:
            raise _bad("there is no text in the message to edit")
        text = _parse_text(str(p.get("text") or ""), p.get("parse_mode"))
        if not text.strip():
            raise _bad("message text is empty")
        if len(text) > TEXT_LIMIT:
            raise _bad("message is too long")
        markup = _check_markup(p.get("reply_markup"))
        inline = markup if markup and "inline_keyboard" in markup else None
        if text == message["text"] and inline == message.get("reply_markup"):
            raise _bad(NOT_MODIFIED[len("Bad Request: ") :])
        message["text"] = text
        if sent is not None:
            sent.text, sent.raw_text, sent.parse_mode = text, p.get("text"), p.get("parse_mode")
        return self._apply_edit(chat, message, sent, inline, f"edited text: {text!r}")

    async def _edit_message_reply_markup(self, p: JSON) -> JSON:
        chat, message, sent = self._editable(p)
        markup = _check_markup(p.get("reply_markup"))
        inline = markup if markup and "inline_keyboard" in markup else None
        if inline == message.get("reply_markup"):
            raise _bad(NOT_MODIFIED[len("Bad Request: ") :])
        return self._apply_edit(chat, message, sent, inline, "edited buttons")

    async def _delete_message(self, p: JSON) -> bool:
        chat = self._known_chat(p)
        message = chat.messages.pop(p.get("message_id"), None)  # type: ignore[arg-type]
        if message is None:
            raise _bad("message to delete not found")
        for sent in self._sent.get(chat.id, []):
            if sent.message_id == message["message_id"]:
                sent.deleted = True
        self._note(chat.id, f"  bot deleted #{message['message_id']}")
        return True

    async def _get_file(self, p: JSON) -> JSON:
        found = self._files.get(str(p.get("file_id") or ""))
        if found is None:
            raise _bad("invalid file_id")
        return {
            "file_id": found.file_id,
            "file_unique_id": found.file_unique_id,
            "file_size": found.file_size,
            "file_path": found.file_path,
        }

    async def _set_my_commands(self, p: JSON) -> bool:
        commands = p.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise _bad("can't parse commands JSON object")
        for command in commands:
            if not _COMMAND_SHAPE.match(str(command.get("command", "")).lstrip("/")):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise _bad("command description must be non-empty")
        self._commands[_commands_key(p)] = [
            {"command": str(c["command"]).lstrip("/"), "description": c["description"]} for c in commands
        ]
        return True

    async def _get_my_commands(self, p: JSON) -> list[JSON]:
        return self._commands.get(_commands_key(p), [])

    async def _delete_my_commands(self, p: JSON) -> bool:
        self._commands.pop(_commands_key(p), None)
        return True

    # ------------------------------------------------------------------ internals
    def _chat_of(self, user: FakeUser) -> _Chat:
        if user.id not in self._chats:
            self._chats[user.id] = _Chat(user.id, user.chat_dict())
        return self._chats[user.id]

    def _note(self, chat_id: int, line: str) -> None:
        self._log.setdefault(chat_id, []).append(line)

    def _known_chat(self, p: JSON) -> _Chat:
        chat_id = p.get("chat_id")
        if chat_id is None or chat_id == "":
            raise _bad("chat_id is empty")
        if isinstance(chat_id, int) and chat_id in self._blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        if isinstance(chat_id, int) and chat_id in self._chats:
            return self._chats[chat_id]
        if isinstance(chat_id, int) and chat_id in self._users:
            raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
        raise _bad("chat not found")

    def _editable(self, p: JSON) -> tuple[_Chat, JSON, SentMessage | None]:
        if p.get("inline_message_id"):
            raise _bad("MESSAGE_ID_INVALID")  # inline messages aren't modelled
        chat = self._known_chat(p)
        message = chat.messages.get(p.get("message_id"))  # type: ignore[arg-type]
        if message is None:
            raise _bad("message to edit not found")
        if message.get("from", {}).get("id") != self.bot_user["id"]:
            raise _bad("message can't be edited")
        sent = next((s for s in self._sent.get(chat.id, []) if s.message_id == message["message_id"]), None)
        return chat, message, sent

    def _apply_edit(self, chat: _Chat, message: JSON, sent: SentMessage | None, inline: JSON | None, what: str) -> JSON:
        """Like Telegram, an edit without reply_markup drops the inline keyboard."""
        if inline is None:
            message.pop("reply_markup", None)
        else:
            message["reply_markup"] = inline
        message["edit_date"] = int(time.time())
        if sent is not None:
            if sent.reply_markup is None or "inline_keyboard" in sent.reply_markup:
                sent.reply_markup = inline
            sent.edit_date, sent.payload = message["edit_date"], copy.deepcopy(message)
        self._note(chat.id, f"  bot {what} on #{message['message_id']}")
        self._pulse.fire()
        return copy.deepcopy(message)

    def _take_send_slot(self, chat_id: int) -> None:
        """Flood control, when enabled: room in the bot's one-second window and a token from
        the chat's bucket; a refused send counts against neither."""
        now = time.monotonic()
        self.send_times.append(now)
        if self._global is None and self._per_chat_rate is None:
            return
        limits: list[_Bucket | _Window] = [self._global] if self._global else []
        if self._per_chat_rate:
            bucket = _Bucket(self._per_chat_rate, float(self._per_chat_burst))
            limits.append(self._chat_buckets.setdefault(chat_id, bucket))
        wait = max(limit.wait(now) for limit in limits)
        if wait > 0:
            self.send_times.pop()
            retry = max(1, math.ceil(wait))
            raise ApiError(429, f"Too Many Requests: retry after {retry}", {"retry_after": retry})
        for limit in limits:
            limit.take(now)

    def busiest_second(self, seconds: float = 1.0) -> int:
        """The most sends accepted in any window of `seconds` (half open, as the limit counts):
        what the platform would have seen, whether or not it enforced a limit."""
        busiest, first = 0, 0
        for last, at in enumerate(self.send_times):
            while self.send_times[first] <= at - seconds:
                first += 1
            busiest = max(busiest, last - first + 1)
        return busiest

    def _bot_message(
        self,
        chat: _Chat,
        method: str,
        p: JSON,
        content: JSON,
        *,
        text: str | None,
        raw_text: Any,
        photo: bytes | None = None,
        location: tuple[float, float] | None = None,
    ) -> JSON:
        markup = _check_markup(p.get("reply_markup"))
        reply = p.get("reply_parameters") if isinstance(p.get("reply_parameters"), dict) else {}
        reply_to = p.get("reply_to_message_id") or reply.get("message_id")
        replied = chat.messages.get(reply_to) if reply_to else None  # type: ignore[arg-type]
        if (
            reply_to
            and replied is None
            and not (p.get("allow_sending_without_reply") or reply.get("allow_sending_without_reply"))
        ):
            raise _bad("message to be replied not found")
        self._take_send_slot(chat.id)
        message: JSON = {
            "message_id": chat.take_message_id(),
            "from": self.bot_user,
            "chat": chat.info,
            "date": int(time.time()),
            **content,
        }
        if replied is not None:
            message["reply_to_message"] = {k: v for k, v in replied.items() if k != "reply_to_message"}
        if markup and "inline_keyboard" in markup:  # reply keyboards are not echoed back
            message["reply_markup"] = markup
        chat.messages[message["message_id"]] = message
        sent = SentMessage(
            message["message_id"],
            chat.id,
            text,
            markup,
            method,
            message["date"],
            raw_text=raw_text,
            parse_mode=p.get("parse_mode"),
            photo=photo,
            location=location,
            reply_to_message_id=reply_to if replied is not None else None,
            payload=copy.deepcopy(message),
        )
        self._sent.setdefault(chat.id, []).append(sent)
        self.count_sent += 1
        self._note(
            chat.id,
            f"← bot #{sent.message_id} {method}: {text if text is not None else content}{_describe_markup(markup)}",
        )
        self._pulse.fire()
        return copy.deepcopy(message)

    def _user_message(self, user_id: int, content: JSON, summary: str) -> JSON:
        user = self.user(user_id)
        chat = self._chat_of(user)
        message: JSON = {
            "message_id": chat.take_message_id(),
            "from": user.as_dict(),
            "chat": chat.info,
            "date": int(time.time()),
            **content,
        }
        chat.messages[message["message_id"]] = message
        self._note(chat.id, f"→ user #{message['message_id']}: {summary}")
        return self._push_update("message", copy.deepcopy(message))

    def _push_update(self, kind: str, payload: JSON) -> JSON:
        """Queue an update unless the bot's allowed_updates leave it out (Telegram drops those)."""
        update = {"update_id": next(self._update_ids), kind: payload}
        self.updates_by_id[update["update_id"]] = update
        allowed = kind in self._allowed if self._allowed is not None else kind not in _OPT_IN_UPDATES
        if allowed:
            self._pending.append(update)
            self._pulse.fire()
        return copy.deepcopy(update)

    def _store_file(self, data: bytes | None, folder: str, extension: str) -> _File:
        n = next(self._ids)
        file = _File(f"AgAC-fake-{folder}-{n}", f"AQAD{n}", f"{folder}/file_{n}.{extension}", len(data or b""), data)
        self._files[file.file_id] = file
        self._file_paths[file.file_path] = file
        return file

    def _store_photo(self, data: bytes) -> list[JSON]:
        """Three sizes, smallest first; the largest is ``data`` itself. When Pillow can read it the
        smaller ones are real downscaled JPEGs, so a bot fetching the wrong size gets a smaller
        picture; otherwise all three share the bytes and only their nominal size differs."""
        dims = _image_size(data)
        width, height = dims or (800, 600)
        smaller = [(max(1, width // scale), max(1, height // scale)) for scale in (4, 2)]
        thumbs = [_downscale(data, w, h) for w, h in smaller] if dims else [None, None]
        shared = [max(1, len(data) // 16), max(1, len(data) // 4)]
        sizes = []
        for (w, h), thumb, nominal in [*zip(smaller, thumbs, shared, strict=True), ((width, height), data, len(data))]:
            file = self._store_file(thumb or data, "photos", "jpg")
            sizes.append(
                {
                    "file_id": file.file_id,
                    "file_unique_id": file.file_unique_id,
                    "width": w,
                    "height": h,
                    "file_size": len(thumb) if thumb else nominal,
                }
            )
        return sizes


# ---------------------------------------------------------------------- request parsing
async def _read_params(request: web.Request) -> JSON:
    """Query string, then the body: JSON, urlencoded or multipart (uploads become UploadedFile).
    Form values are strings, so known fields are converted and JSON fields decoded."""
    params: JSON = dict(request.query)
    if request.can_read_body:
        if request.content_type == "application/json":
            body = await request.json()
            params.update(body if isinstance(body, dict) else {})
        else:
            for key, value in (await request.post()).items():
                if isinstance(value, web.FileField):
                    params[key] = UploadedFile(value.filename, value.content_type, value.file.read())
                else:
                    params[key] = value
    for key, value in list(params.items()):
        if isinstance(value, str):
            params[key] = _convert(key, value)
    for key, value in list(params.items()):  # sendPhoto(photo="attach://x") refers to a multipart part
        if isinstance(value, str) and value.startswith("attach://") and value[9:] in params:
            params[key] = params[value[9:]]
    return params


def _convert(key: str, value: str) -> Any:
    try:
        if key in _INT_FIELDS:
            return int(value) if re.fullmatch(r"-?\d+", value) else float(value)
        if key in _FLOAT_FIELDS:
            return float(value)
        if key in _BOOL_FIELDS:
            return value.lower() in ("true", "1")
        if key in _JSON_FIELDS:
            return json.loads(value)
    except ValueError:
        if key in _JSON_FIELDS:
            raise _bad(f"can't parse {key} JSON object") from None
    return value


def _commands_key(p: JSON) -> tuple[str, str]:
    return json.dumps(p.get("scope") or {"type": "default"}, sort_keys=True), str(p.get("language_code") or "")


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _check_markup(markup: Any) -> JSON | None:
    """Reject what Telegram rejects: malformed keyboards and callback_data over 64 bytes."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise _bad("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise _bad("can't parse inline keyboard button: InlineKeyboardMarkup must be an Array of Arrays")
        for button in (b for row in rows for b in row):
            if not isinstance(button, dict) or not str(button.get("text") or ""):
                raise _bad("can't parse inline keyboard button: Text must be non-empty")
            if len(_INLINE_ACTIONS & button.keys()) != 1:
                raise _bad("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= CALLBACK_DATA_LIMIT:
                raise _bad("BUTTON_DATA_INVALID")
    elif "keyboard" in markup:
        rows = markup["keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise _bad('can\'t parse keyboard: Field "keyboard" must be an Array of Arrays')
        for button in (b for row in rows for b in row):
            if not (isinstance(button, str) and button) and not (isinstance(button, dict) and button.get("text")):
                raise _bad("can't parse keyboard button: Text must be non-empty")
    elif markup.get("remove_keyboard") is not True and markup.get("force_reply") is not True:
        raise _bad("can't parse reply keyboard markup JSON object")
    return markup


def _describe_markup(markup: JSON | None) -> str:
    if not markup:
        return ""
    if "inline_keyboard" in markup:
        return (
            " ["
            + " | ".join(
                f"{b['text']}={b.get('callback_data', b.get('url', ''))}"
                for row in markup["inline_keyboard"]
                for b in row
            )
            + "]"
        )
    if "keyboard" in markup:
        return (
            " {" + " | ".join(b if isinstance(b, str) else b["text"] for row in markup["keyboard"] for b in row) + "}"
        )
    return f" {markup}"


# ---------------------------------------------------------------------- formatted text
def _parse_text(text: str, parse_mode: str | None) -> str:
    """The text as the user sees it, or 400 "can't parse entities" where Telegram refuses."""
    mode = (parse_mode or "").lower()
    if mode == "html":
        return _strip_html(text)
    if mode == "markdownv2":
        return _strip_markdown_v2(text)
    if mode == "markdown":
        return _strip_markdown(text)
    return text


def _entity_error(text: str, index: int, message: str) -> ApiError:
    return _bad(f"can't parse entities: {message} at byte offset {len(text[:index].encode())}")


def _strip_html(text: str) -> str:
    out, stack, i = [], [], 0
    while i < len(text):
        char = text[i]
        if char == "<":
            tag = _HTML_TAG.match(text, i)
            if tag is None or tag.group(2).lower() not in _HTML_TAGS:
                name = tag.group(2) if tag else re.match(r"/?[\w-]*", text[i + 1 :]).group(0)  # type: ignore[union-attr]
                raise _entity_error(text, i, f'Unsupported start tag "{name}"')
            name = tag.group(2).lower()
            if tag.group(1):
                if not stack or stack[-1] != name:
                    raise _entity_error(text, i, f'Unmatched end tag "{name}"')
                stack.pop()
            else:
                stack.append(name)
            i = tag.end()
            continue
        entity = _HTML_ENTITY.match(text, i) if char == "&" else None
        if entity:
            out.append(html.unescape(entity.group(0)))
            i = entity.end()
            continue
        out.append(char)
        i += 1
    if stack:
        raise _bad(f"can't parse entities: Can't find end tag corresponding to start tag \"{stack[-1]}\"")
    return "".join(out)


def _strip_markdown_v2(text: str) -> str:
    out: list[str] = []
    open_: list[tuple[str, int]] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if char == "`":
            fence = "```" if text.startswith("```", i) else "`"
            end = text.find(fence, i + len(fence))
            if end < 0:
                raise _entity_error(text, i, f"Can't find end of {'Pre' if fence == '```' else 'Code'} entity")
            body = text[i + len(fence) : end]
            if fence == "```" and "\n" in body and " " not in body.split("\n", 1)[0]:
                body = body.split("\n", 1)[1]  # the first line names the language
            out.append(re.sub(r"\\([`\\])", r"\1", body))
            i = end + len(fence)
            continue
        token = next((t for t in ("__", "||", "*", "_", "~") if text.startswith(t, i)), None)
        if token:
            names = [t for t, _ in open_]
            if token in names:
                del open_[len(names) - 1 - names[::-1].index(token)]
            else:
                open_.append((token, i))
            i += len(token)
            continue
        if char == "[" or (char == "!" and text.startswith("![", i)):
            open_.append(("[", i))
            i += 1 if char == "[" else 2
            continue
        if char == "]" and open_ and open_[-1][0] == "[" and text.startswith("(", i + 1):
            end = text.find(")", i + 2)
            if end < 0:
                raise _entity_error(text, i, "Can't find end of a URL")
            open_.pop()
            i = end + 1
            continue
        if char == ">" and (i == 0 or text[i - 1] == "\n"):
            i += 1  # a block quote
            continue
        if char in _MDV2_RESERVED:
            raise _bad(
                f"can't parse entities: Character '{char}' is reserved and must be escaped with the preceding '\\'"
            )
        out.append(char)
        i += 1
    if open_:
        token, start = open_[-1]
        raise _entity_error(text, start, f"Can't find end of {_MDV2_NAMES[token]} entity")
    return "".join(out)


def _strip_markdown(text: str) -> str:
    """Legacy Markdown: *bold*, _italic_, `code`, ```pre```, [text](url); no nesting."""
    out, i = [], 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text) and text[i + 1] in "_*`[":
            out.append(text[i + 1])
            i += 2
            continue
        if char in "*_`":
            fence = "```" if text.startswith("```", i) else char
            end = text.find(fence, i + len(fence))
            if end < 0:
                raise _entity_error(text, i, "Can't find end of the entity starting")
            out.append(text[i + len(fence) : end])
            i = end + len(fence)
            continue
        if char == "[":
            close = text.find("](", i)
            end = text.find(")", close) if close >= 0 else -1
            if end >= 0:
                out.append(text[i + 1 : close])
                i = end + 1
                continue
        out.append(char)
        i += 1
    return "".join(out)


# ---------------------------------------------------------------------- images (Pillow is optional)
def _image_size(data: bytes) -> tuple[int, int] | None:
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except Exception:
        return None


def _downscale(data: bytes, width: int, height: int) -> bytes | None:
    if width < 1 or height < 1:
        return None
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            buffer = io.BytesIO()
            image.convert("RGB").resize((width, height)).save(buffer, "JPEG")
            return buffer.getvalue()
    except Exception:
        return None

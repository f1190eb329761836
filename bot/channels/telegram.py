"""Telegram through python-telegram-bot, used as transport only.

PTB parses updates, fetches them and sends; conversation state stays in our tables (never in
ConversationHandler or PicklePersistence, which a second process or a restart would lose), and
an update is confirmed to Telegram only once its unit of work committed (the webhook answers
after the commit; polling is bot/channels/telegram_polling.py). Buttons carry `step|value` so a press on an old message is recognised.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import warnings
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from aiohttp import web
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.warnings import PTBDeprecationWarning, PTBUserWarning

from bot.channels.base import PermanentFailure, RetryLater, split_text
from bot.channels.spec import ChannelSpec
from bot.channels.telegram_http import AiohttpRequest
from bot.channels.telegram_polling import Poller
from bot.ratelimit import ChannelLimits, channel_limits
from bot.runner import PhotoTooLarge, Runner
from bot.settings import Settings
from workflows.engine import Inbound
from workflows.inbound import Envelope
from workflows.messages import OutMessage

log = logging.getLogger(__name__)

CHANNEL = "telegram"
WEBHOOK_PATH = "/telegram/webhook"
STOP_SECONDS = 10  # an unreachable Bot API must not hold the shutdown
POLL_TIMEOUT = timedelta(seconds=10)  # a long poll's wait for news
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024  # a photo's caption
ALLOWED_UPDATES = ["message", "callback_query"]
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
UNSUPPORTED = ("sticker", "voice", "audio", "video", "video_note", "animation", "document", "dice", "poll")
IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp")
PDF_TYPE = "application/pdf"


def parse(update: Update) -> tuple[Envelope, Any] | None:
    """A private-chat update as an Envelope, plus the photo to fetch if there is one."""
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None or chat.type != "private" or user.is_bot:
        return None
    photo_ref: Any = None
    if update.callback_query is not None:
        step, _, value = (update.callback_query.data or "").rpartition("|")
        event = Inbound(kind="choice", value=value, step=step or None)
    elif update.message is not None:
        event, photo_ref = _message_event(update.message)
    else:
        return None
    envelope = Envelope(
        channel=CHANNEL,
        external_id=str(user.id),
        chat_id=str(chat.id),
        event=event,
        message_id=f"u{update.update_id}",
        language_hint=user.language_code,
        display_name=user.full_name[:128],
    )
    return envelope, photo_ref


def _message_event(message: Message) -> tuple[Inbound, Any]:
    if message.text is not None:
        return Inbound(kind="text", text=message.text), None
    if message.location is not None:
        return Inbound(kind="location", latitude=message.location.latitude, longitude=message.location.longitude), None
    if message.photo:
        return Inbound(kind="photo"), max(message.photo, key=lambda size: size.width * size.height)
    if message.document is not None and message.document.mime_type in IMAGE_TYPES:
        return Inbound(kind="photo"), message.document  # a photo sent "as a file" to keep its quality
    if message.document is not None and message.document.mime_type == PDF_TYPE:
        return Inbound(kind="document"), message.document  # the bytes are checked, not this type
    if message.contact is not None:
        return Inbound(kind="contact", phone=message.contact.phone_number), None
    media = next((name for name in UNSUPPORTED if getattr(message, name, None)), "other")
    return Inbound(kind="unsupported", media=media), None


def keyboard(message: OutMessage) -> Any:
    """Inline buttons for choices; a one-time reply keyboard when asking for a location (an
    inline button cannot request one), with the choices as typed buttons beside it."""
    if message.request == "location":
        rows = [[KeyboardButton(message.request_label or "📍", request_location=True)]]
        rows += [[KeyboardButton(option.title)] for option in message.options]
        return ReplyKeyboardMarkup(rows, resize_keyboard=True, one_time_keyboard=True)
    if message.options:
        return InlineKeyboardMarkup(
            [
                [InlineKeyboardButton(option.title, callback_data=f"{message.step or ''}|{option.value}")]
                for option in message.options
            ]
        )
    return ReplyKeyboardRemove()


class TelegramChannel:
    """Receives updates (polling or webhook) for the runner and sends outbox messages."""

    name = CHANNEL

    def __init__(self, settings: Settings, runner: Runner) -> None:
        assert settings.telegram_bot_token
        self.settings = settings
        self.runner = runner
        request = AiohttpRequest(connections=64)
        poll_request = AiohttpRequest(connections=2)
        self.bot = Bot(
            settings.telegram_bot_token,
            base_url=settings.telegram_api_base_url,
            base_file_url=settings.telegram_file_base_url,
            request=request,
            get_updates_request=poll_request,
        )
        # We call sendMessage through do_api_request on purpose (see `send`); PTB suggests the
        # typed method instead, which parses every answer into a Message we do not need.
        warnings.filterwarnings("ignore", message="Please use 'Bot.sendMessage'", category=PTBUserWarning)
        self.poller: Poller | None = None
        self._background: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        await self.bot.initialize()
        if self.settings.telegram_webhook_url:
            await self.bot.set_webhook(
                self.settings.telegram_webhook_url,
                secret_token=self.settings.telegram_webhook_secret,
                allowed_updates=ALLOWED_UPDATES,
            )
            log.info("telegram: webhook set")
            return
        self.poller = Poller(self.bot, self.process, timeout=POLL_TIMEOUT, allowed_updates=ALLOWED_UPDATES)
        await self.poller.start()
        log.info("telegram: polling")

    async def stop(self) -> None:
        try:
            await asyncio.wait_for(self._stop(), STOP_SECONDS)
        except TimeoutError:
            log.warning("telegram: stopping took over %ss; leaving it", STOP_SECONDS)

    async def _stop(self) -> None:
        if self.poller is not None:
            await self.poller.stop()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        await self.bot.shutdown()

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ------------------------------------------------------------------ inbound
    def routes(self) -> Sequence[web.AbstractRouteDef]:
        """The webhook, when Telegram is told to use one; polling needs no route."""
        return [web.post(WEBHOOK_PATH, self.webhook)] if self.settings.telegram_webhook_url else []

    async def process(self, update: Update) -> None:
        """Hand one update to the runner; answer a button press so its spinner stops."""
        parsed = parse(update)
        if parsed is None:
            return
        envelope, photo_ref = parsed
        fetch = (lambda limit: self._download(photo_ref, limit)) if photo_ref is not None else None
        await self.runner.handle(envelope, fetch)
        if update.callback_query is not None:
            self._spawn(self._acknowledge(update))

    async def _download(self, ref: Any, limit: int) -> bytes:
        if ref.file_size is not None and ref.file_size > limit:
            raise PhotoTooLarge()
        file = await self.bot.get_file(ref.file_id)
        if file.file_size is not None and file.file_size > limit:
            raise PhotoTooLarge()
        return bytes(await file.download_as_bytearray())

    async def _acknowledge(self, update: Update) -> None:
        """Stop the button's spinner and drop the buttons of the pressed message."""
        query = update.callback_query
        assert query is not None
        try:
            await self.bot.answer_callback_query(query.id)
            if isinstance(query.message, Message) and query.message.reply_markup is not None:
                await self.bot.edit_message_reply_markup(
                    query.message.chat.id, query.message.message_id, reply_markup=None
                )
        except TelegramError as error:
            log.debug("telegram: acknowledging a press failed: %s", error)

    async def webhook(self, request: web.Request) -> web.Response:
        """Authenticated by the secret header (constant-time); answered after the update is
        committed, so a failure makes Telegram deliver it again."""
        given = request.headers.get(SECRET_HEADER, "")
        expected = self.settings.telegram_webhook_secret or ""
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            return web.Response(status=403)
        try:
            data = await request.json()
            update = Update.de_json(data, self.bot)
        except (ValueError, TypeError, KeyError, AttributeError):  # not JSON, or not an update
            return web.Response(status=400)
        await self.process(update)
        return web.Response(status=200)

    # ------------------------------------------------------------------ outbound
    async def send(self, chat_id: str, message: OutMessage, skip: int = 0) -> str | None:
        """A long text goes in parts; a retry after a failure sends only the parts not yet out."""
        parts = split_text(message.text, TEXT_LIMIT)
        sent: dict[str, Any] = {}
        index = skip
        try:
            if message.photo is not None:
                return await self._send_photo(chat_id, message)
            for index, part in enumerate(parts[skip:], start=skip):
                call: dict[str, Any] = {"chat_id": int(chat_id), "text": part}
                if index == len(parts) - 1:
                    call["reply_markup"] = keyboard(message)
                # The raw answer, not a parsed Message: parsing every reply cost more CPU than
                # building and sending it, and we keep only the message id.
                sent = await self.bot.do_api_request("sendMessage", api_kwargs=call)
        except RetryAfter as error:
            with warnings.catch_warnings():  # PTB 22 warns that the int form will become a timedelta
                warnings.simplefilter("ignore", PTBDeprecationWarning)
                wait = error.retry_after
            seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
            raise RetryLater(seconds, "429 retry_after", parts_done=index - skip) from error
        except Forbidden as error:
            raise PermanentFailure(f"403 {error.message}") from error
        except BadRequest as error:
            raise PermanentFailure(f"400 {error.message}") from error
        except NetworkError as error:
            raise RetryLater(2.0, f"network: {error.message}", parts_done=index - skip) from error
        return str(sent["message_id"]) if "message_id" in sent else None

    async def _send_photo(self, chat_id: str, message: OutMessage) -> str | None:
        """A stored photo with a short caption; a photo that is gone is said in words instead."""
        path = (self.settings.attachments_dir / (message.photo or "")).resolve()
        if not path.is_file() or self.settings.attachments_dir.resolve() not in path.parents:
            log.warning("telegram: photo %s is missing; sending the caption alone", message.photo)
            sent = await self.bot.do_api_request(
                "sendMessage", api_kwargs={"chat_id": int(chat_id), "text": message.text}
            )
        else:
            caption = message.text[:CAPTION_LIMIT]
            data = await asyncio.to_thread(path.read_bytes)
            reply = await self.bot.send_photo(int(chat_id), photo=data, caption=caption)
            sent = {"message_id": reply.message_id}
        return str(sent["message_id"]) if "message_id" in sent else None


def _validate(settings: Settings) -> None:
    """A webhook needs its secret, in the characters Telegram accepts."""
    if settings.telegram_webhook_url and not settings.telegram_webhook_secret:
        raise ValueError("TELEGRAM_WEBHOOK_URL needs TELEGRAM_WEBHOOK_SECRET (1-256 of A-Za-z0-9_-)")
    secret = settings.telegram_webhook_secret
    if secret is not None and not (
        1 <= len(secret) <= 256 and all(c.isalnum() or c in "_-" for c in secret) and secret.isascii()
    ):
        raise ValueError("TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Za-z0-9_-")


def _limits(settings: Settings) -> ChannelLimits:
    """Telegram's flood limits: about one message a second to a chat, 30 a second in all."""
    return channel_limits(settings.telegram_rate_per_chat, settings.telegram_rate_burst, settings.telegram_rate_global)


SPEC = ChannelSpec(
    name=CHANNEL,
    build=lambda wiring: TelegramChannel(wiring.settings, wiring.runner),
    environment={
        "TELEGRAM_BOT_TOKEN": ("telegram_bot_token", str),
        "TELEGRAM_API_BASE_URL": ("telegram_api_base_url", str),
        "TELEGRAM_FILE_BASE_URL": ("telegram_file_base_url", str),
        "TELEGRAM_WEBHOOK_URL": ("telegram_webhook_url", str),
        "TELEGRAM_WEBHOOK_SECRET": ("telegram_webhook_secret", str),
        "TELEGRAM_BOT_USERNAME": ("telegram_bot_username", str),
        "TELEGRAM_RATE_PER_CHAT": ("telegram_rate_per_chat", float),
        "TELEGRAM_RATE_BURST": ("telegram_rate_burst", int),
        "TELEGRAM_RATE_GLOBAL": ("telegram_rate_global", float),
    },
    enabled=lambda settings: bool(settings.telegram_bot_token),
    validate=_validate,
    limits=_limits,
)

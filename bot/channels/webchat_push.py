"""Web Push for the web chat: a nudge to a citizen's browser when the office writes while their
chat page is closed.

The nudge carries no words about the case, only "there is a reply" and the chat's address (the
service worker shows it in the page's language); the browser's push service relays it,
encrypted for the browser. A chat gets at most one nudge per `COALESCE_SECONDS`: several
replies in a row are one "new reply". Sending runs on its own task, never in the unit of work
that queued the reply; a subscription the push service calls gone (404/410) is forgotten, any
other failure is logged and tried once more a little later.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid
from pywebpush import WebPushException, webpush_async

from storage import outbox, push_subscriptions
from storage.db import Database

log = logging.getLogger(__name__)

COALESCE_SECONDS = 180.0
GRACE_SECONDS = 10.0  # a reply the page reads meanwhile (its own answer, a poll) needs no nudge
RETRY_SECONDS = 60.0
MAX_ENDPOINT = 1000
MAX_KEY = 200
TTL_SECONDS = 24 * 60 * 60  # a phone that is off for a day still hears of the reply
KEY_FILE = "webpush.pem"
LOCAL_HOSTS = ("127.0.0.1", "localhost")


def load_vapid(data_dir: Path, private_key: str | None = None) -> Vapid:
    """The office's VAPID key: from the setting when given, else made once and kept beside the
    database, owner-only (browsers' subscriptions are bound to it: changing it loses them)."""
    if private_key:
        return Vapid.from_string(private_key=private_key)
    path = data_dir / KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fresh = Vapid()
        fresh.generate_keys()
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as fh:
            fh.write(fresh.private_pem())
    return Vapid.from_file(private_key_file=str(path))


def default_subject(public_url: str | None, console_url: str) -> str:
    """Who push services may contact about our nudges: the office's https address, else a
    mailto: at its host (push services refuse a plain-http subject)."""
    if public_url and public_url.startswith("https://"):
        return public_url.rstrip("/")
    return f"mailto:webmaster@{urlsplit(console_url).hostname or 'localhost'}"


def public_key(vapid: Vapid) -> str:
    """The application server key a browser's `pushManager.subscribe` takes (base64url, raw point)."""
    raw = vapid.public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@dataclass(frozen=True)
class Subscription:
    endpoint: str
    p256dh: str
    auth: str


def parse_subscription(body: Any, *, allow_local_http: bool) -> Subscription | None:
    """A browser's `PushSubscription.toJSON()`, or None when it is not one we would send to:
    an https endpoint (plain http to this machine only when the setting allows it, for tests)."""
    if not isinstance(body, dict) or not isinstance(body.get("keys"), dict):
        return None
    endpoint, p256dh, auth = body.get("endpoint"), body["keys"].get("p256dh"), body["keys"].get("auth")
    if not (isinstance(endpoint, str) and isinstance(p256dh, str) and isinstance(auth, str)):
        return None
    if not (0 < len(endpoint) <= MAX_ENDPOINT and 0 < len(p256dh) <= MAX_KEY and 0 < len(auth) <= MAX_KEY):
        return None
    parts = urlsplit(endpoint)
    local = parts.scheme == "http" and parts.hostname in LOCAL_HOSTS and allow_local_http
    if not parts.hostname or (parts.scheme != "https" and not local):
        return None
    return Subscription(endpoint, p256dh, auth)


class WebPush:
    """Nudges the subscribed browsers of chats that got a reply while no page of theirs is open."""

    def __init__(
        self,
        db: Database,
        *,
        channel: str,
        vapid: Vapid,
        subject: str,
        chat_url: str,
        clock: Callable[[], datetime],
        coalesce_seconds: float = COALESCE_SECONDS,
        grace_seconds: float = GRACE_SECONDS,
        retry_seconds: float = RETRY_SECONDS,
    ) -> None:
        self.db = db
        self.channel = channel
        self.vapid = vapid
        self.subject = subject
        self.chat_url = chat_url
        self.clock = clock
        self.coalesce_seconds = coalesce_seconds
        self.grace_seconds = grace_seconds
        self.retry_seconds = retry_seconds
        self.sent = 0  # nudges the push services accepted (for the log and tests)
        self._pending: dict[str, bool] = {}  # chat -> is this its retry
        self._last: dict[str, float] = {}  # chat -> loop time of its last nudge
        self._woken = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        # A chat noticed while no page was open may have one by the time the grace is over
        # (the page was reopened, and reads its news itself): it needs no nudge then.
        self.watched: Callable[[str], bool] = lambda chat_id: False

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
        self._task = asyncio.create_task(self._send_forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    def notice(self, chat_ids: Sequence[str], *, retry: bool = False) -> None:
        """These chats got a reply and no page of theirs is open here: nudge them soon."""
        for chat_id in chat_ids:
            self._pending.setdefault(chat_id, retry)
        if chat_ids:
            self._woken.set()

    async def _send_forever(self) -> None:
        while True:
            await self._woken.wait()
            await asyncio.sleep(self.grace_seconds)
            self._woken.clear()
            due, self._pending = self._pending, {}
            try:
                await self.send(due)
            except Exception:
                log.warning("web push: reading the subscriptions failed; trying again later", exc_info=True)
                self._retry_later([chat for chat, retried in due.items() if not retried])

    async def send(self, due: dict[str, bool]) -> None:
        """Nudge each due chat that still has an unread reply and was not nudged lately."""
        now = asyncio.get_running_loop().time()
        self._last = {chat: at for chat, at in self._last.items() if now - at < self.coalesce_seconds}
        chats = [chat for chat in due if chat not in self._last and not self.watched(chat)]
        subscriptions = await self.db.read(self._unread_subscriptions, chats)
        failed: set[str] = set()
        for chat_id, subscription in subscriptions:
            self._last[chat_id] = now
            if not await self._push(subscription):
                failed.add(chat_id)
        for chat_id in failed:
            self._last.pop(chat_id, None)  # the retry is not held back by the failed try
        self._retry_later([chat for chat in failed if not due[chat]])

    def _unread_subscriptions(self, session: Any, chats: list[str]) -> list[tuple[str, Subscription]]:
        unread = outbox.chats_with_unread(session, channel=self.channel, chat_ids=chats)
        return [
            (row.chat_id, Subscription(row.endpoint, row.p256dh, row.auth))
            for row in push_subscriptions.of_chats(session, chat_ids=unread)
        ]

    async def _push(self, subscription: Subscription) -> bool:
        """Send one nudge; False when it should be tried again."""
        payload = json.dumps({"kind": "reply", "url": self.chat_url})
        try:
            await webpush_async(
                {"endpoint": subscription.endpoint, "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth}},
                data=payload,
                vapid_private_key=self.vapid,
                vapid_claims={"sub": self.subject},
                ttl=TTL_SECONDS,
                aiohttp_session=self._session,
            )
        except WebPushException as error:
            status = getattr(error.response, "status", None)
            if status in (404, 410):
                await self.db.run(push_subscriptions.forget, endpoint=subscription.endpoint)
                log.info("web push: a subscription is gone (%s); forgotten", status)
                return True
            log.warning("web push: the push service refused a nudge (%s)", status)
            return False
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            log.warning("web push: could not reach the push service (%s)", type(error).__name__)
            return False
        self.sent += 1
        return True

    def _retry_later(self, chats: list[str]) -> None:
        if chats:
            asyncio.get_running_loop().call_later(self.retry_seconds, lambda: self.notice(chats, retry=True))

"""SMS through an HTTP gateway (`bot/channels/sms_gateways.py`: the Android phone gateway, or
a generic one), for citizens with a basic phone: status news, an officer's questions, and
their answers.

In: the gateway posts each SMS to `/sms/inbound` (or `/sms/inbound/<secret>`); the request
is authenticated before anything in it is read, then each SMS goes to the runner as an
Envelope, de-duplicated on the gateway's delivery id, and the answer is 200 once it is
committed (a failure makes the gateway deliver again). A person is their number in E.164.

Out: the text is made plain for GSM-7 and cut into SMS (`bot/channels/sms_text.py`). SMS has
no buttons: the choices are written under the text as numbers ("Balas 1 untuk …"), and a
reply that is only such a number is read as a press of that button on the last message the
person got, `step|value` as on every other channel, so a reply to an older message is still
recognised as stale. A number when the last message offered no choices stays text (the
answer to an officer's question may well be "2"). A photo cannot go by SMS: its text does.

Limits: a phone sends perhaps one SMS every few seconds, and the operator may block a SIM
that sends faster; the defaults are conservative and set in SMS_RATE_*.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import select
from sqlmodel import Session, col

from bot.channels.base import PermanentFailure, RetryLater, masked
from bot.channels.sms_gateways import AndroidGateway, Gateway, GatewayError, GenericGateway
from bot.channels.sms_text import parts, plain
from bot.channels.spec import ChannelSpec, Wiring
from bot.ratelimit import ChannelLimits, channel_limits
from bot.runner import Runner
from bot.settings import Settings
from storage import outbox
from storage.db import Database
from storage.models import OutboxMessage
from workflows.engine import Inbound
from workflows.inbound import Envelope
from workflows.messages import OutMessage
from workflows.texts import Texts
from workflows.validation.phone import normalize_phone

log = logging.getLogger(__name__)

CHANNEL = "sms"
INBOUND_PATH = "/sms/inbound"
GATEWAYS = ("android", "generic")
CHOICE = re.compile(r"\s*(\d{1,2})\s*[.)]?\s*")  # "2", " 2 ", "2." as people type a number
RETRY_WAIT = 5.0  # the phone's server busy or out of reach (its Wi-Fi dropped): try again soon
AUTH_WAIT = 120.0  # the gateway refused our credentials: an operator must act; messages wait
# Messages a second, to one person and in all: a message may be several SMS.
DEFAULT_PER_CHAT, DEFAULT_BURST, DEFAULT_OVERALL = 0.1, 3, 0.2


class SmsChannel:
    """Takes the gateway's webhook for the runner and hands outbox messages to the gateway."""

    name = CHANNEL

    def __init__(self, gateway: Gateway, runner: Runner, db: Database, texts: Texts) -> None:
        self.gateway = gateway
        self.runner = runner
        self.db = db
        self.texts = texts
        self._http: aiohttp.ClientSession | None = None

    # ------------------------------------------------------------------ lifecycle
    def routes(self) -> Sequence[web.AbstractRouteDef]:
        return [web.post(INBOUND_PATH, self.inbound), web.post(INBOUND_PATH + "/{secret}", self.inbound)]

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.close()

    # ------------------------------------------------------------------ inbound
    async def inbound(self, request: web.Request) -> web.Response:
        """Who posted it first (401 and nothing read otherwise), then each SMS, committed."""
        body = await request.read()  # the raw bytes: the signature is over them
        if not self.gateway.authentic(request.headers, request.match_info.get("secret"), body, time.time()):
            return web.Response(status=401)
        try:
            received = self.gateway.read(body, request.content_type)
        except (ValueError, UnicodeDecodeError) as error:
            log.warning("sms: unreadable webhook from the %s gateway: %s", self.gateway.name, error)
            return web.Response(status=400)
        for sms in received:
            number = normalize_phone(sms.number)
            if number is None:  # the operator's own notices come from names and short codes
                log.info("sms: message from %s is not from a phone number; ignored", masked(sms.number[:20]))
                continue
            event = await self.db.run(read_reply, chat_id=number, text=sms.text)
            envelope = Envelope(
                channel=CHANNEL,
                external_id=number,
                chat_id=number,
                event=event,
                message_id=sms.delivery_id[:128],
                phone=number,
            )
            await self.runner.handle(envelope)
        return web.Response(status=200)

    # ------------------------------------------------------------------ outbound
    async def send(self, chat_id: str, message: OutMessage, skip: int = 0) -> str | None:
        """The message as SMS, leaving out the first `skip` (sent before a retry)."""
        assert self._http is not None, "SmsChannel.start() first"
        sent, done = None, 0
        try:
            for part in parts(plain(self.drawn(message)))[skip:]:
                sent = await self.gateway.send(self._http, chat_id, part)
                done += 1
        except GatewayError as error:
            raise _failure(error, chat_id, done) from error
        return sent

    def drawn(self, message: OutMessage) -> str:
        """The text, and its choices as numbers to reply with."""
        if not message.options:
            return message.text
        titles = [option.title for option in message.options]
        return f"{message.text}\n\n{self.texts.render('sms/choices', message.language, {'titles': titles})}"


def read_reply(session: Session, *, chat_id: str, text: str) -> Inbound:
    """A bare number that names one of the choices of the last message sent to this person
    is that choice (with the step it was drawn for); anything else is what they typed."""
    match = CHOICE.fullmatch(text)
    if match is None:
        return Inbound(kind="text", text=text)
    last = session.execute(
        select(col(OutboxMessage.payload))
        .where(
            col(OutboxMessage.channel) == CHANNEL,
            col(OutboxMessage.chat_id) == chat_id,
            col(OutboxMessage.status) == outbox.SENT,
        )
        .order_by(col(OutboxMessage.id).desc())
        .limit(1)
    ).scalar()
    offered = OutMessage.from_json(last) if last else None
    index = int(match.group(1)) - 1
    if offered is None or not 0 <= index < len(offered.options):
        return Inbound(kind="text", text=text)
    return Inbound(kind="choice", value=offered.options[index].value, step=offered.step)


def _failure(error: GatewayError, chat_id: str, done: int) -> Exception:
    """What the sender should do about a refused SMS."""
    if error.status in (401, 403):
        log.error("sms: the gateway refused our credentials (%s); messages wait until it is fixed", error.status)
        return RetryLater(AUTH_WAIT, f"sms gateway {error.status}", done)
    if error.status == 0 or error.status == 429 or error.status >= 500:
        return RetryLater(RETRY_WAIT, f"sms gateway {error.status}: {error.detail}", done)
    log.warning("sms: the gateway refused a message to %s: %s", masked(chat_id), error)
    return PermanentFailure(f"sms gateway {error.status}: {error.detail}")


def _setting(settings: Settings, key: str) -> Any:
    return settings.extra.get(key)


def gateway_of(settings: Settings) -> Gateway:
    """The gateway the settings name, with its credentials (checked by `_validate`)."""
    url, secret = str(_setting(settings, "sms_gateway_url")), str(_setting(settings, "sms_webhook_secret"))
    if _setting(settings, "sms_gateway") == "android":
        return AndroidGateway(
            url=url,
            username=str(_setting(settings, "sms_gateway_username")),
            password=str(_setting(settings, "sms_gateway_password")),
            signing_key=secret,
        )
    return GenericGateway(
        url=url,
        token=_setting(settings, "sms_gateway_token"),
        secret=secret,
        form=_setting(settings, "sms_gateway_format") == "form",
    )


def _enabled(settings: Settings) -> bool:
    """On when a gateway is named (`_validate` makes sure the rest is there)."""
    return bool(_setting(settings, "sms_gateway"))


def _validate(settings: Settings) -> None:
    """A named gateway without its address, credentials or webhook secret is a mistake."""
    gateway = _setting(settings, "sms_gateway")
    if not gateway:
        return
    if gateway not in GATEWAYS:
        raise ValueError(f"SMS_GATEWAY must be one of {', '.join(GATEWAYS)}, not {gateway!r}")
    needed = {"SMS_GATEWAY_URL": "sms_gateway_url", "SMS_WEBHOOK_SECRET": "sms_webhook_secret"}
    if gateway == "android":
        needed |= {"SMS_GATEWAY_USERNAME": "sms_gateway_username", "SMS_GATEWAY_PASSWORD": "sms_gateway_password"}
    missing = [name for name, key in needed.items() if not _setting(settings, key)]
    if missing:
        raise ValueError(f"SMS_GATEWAY={gateway} needs {', '.join(missing)}")
    if _setting(settings, "sms_gateway_format") not in (None, "json", "form"):
        raise ValueError("SMS_GATEWAY_FORMAT must be json or form")


def _limits(settings: Settings) -> ChannelLimits:
    """A phone gateway sends an SMS every few seconds at best: slow by default."""
    return channel_limits(
        _rate(settings, "sms_rate_per_chat", DEFAULT_PER_CHAT),
        int(_rate(settings, "sms_rate_burst", DEFAULT_BURST)),
        _rate(settings, "sms_rate_global", DEFAULT_OVERALL),
    )


def _rate(settings: Settings, key: str, default: float) -> float:
    """A rate as set (0 turns it off), else the default."""
    value = _setting(settings, key)
    return default if value is None else float(value)


def _build(wiring: Wiring) -> SmsChannel:
    return SmsChannel(gateway_of(wiring.settings), wiring.runner, wiring.db, wiring.texts)


SPEC = ChannelSpec(
    name=CHANNEL,
    build=_build,
    environment={
        "SMS_GATEWAY": ("sms_gateway", lambda raw: raw.strip().lower()),
        "SMS_GATEWAY_URL": ("sms_gateway_url", str),
        "SMS_GATEWAY_USERNAME": ("sms_gateway_username", str),
        "SMS_GATEWAY_PASSWORD": ("sms_gateway_password", str),
        "SMS_GATEWAY_TOKEN": ("sms_gateway_token", str),
        "SMS_GATEWAY_FORMAT": ("sms_gateway_format", lambda raw: raw.strip().lower()),
        "SMS_WEBHOOK_SECRET": ("sms_webhook_secret", str),
        "SMS_RATE_PER_CHAT": ("sms_rate_per_chat", float),
        "SMS_RATE_BURST": ("sms_rate_burst", int),
        "SMS_RATE_GLOBAL": ("sms_rate_global", float),
    },
    enabled=_enabled,
    validate=_validate,
    limits=_limits,
)

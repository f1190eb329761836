"""A throwaway fourth channel, kept to prove that adding a channel touches its own module and
one registration: "echo" takes a person's messages as JSON POSTs on the route it declares and
keeps what the sender pushes to it in memory, buttons drawn as (title, "step|value") pairs.
Everything it needs (its setting, its limits, its route) is declared here, in its `SPEC`.
CONTRIBUTING.md ("Adding a channel") walks through it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aiohttp import web

from bot.channels.spec import ChannelSpec
from bot.ratelimit import ChannelLimits, channel_limits
from bot.runner import Runner
from bot.settings import Settings
from workflows.engine import Inbound
from workflows.inbound import Envelope
from workflows.messages import OutMessage

CHANNEL = "echo"
INBOUND_PATH = "/echo/inbound"


@dataclass(frozen=True)
class Drawn:
    """One message as the echo platform shows it: text, and buttons as (title, payload)."""

    chat_id: str
    text: str
    buttons: tuple[tuple[str, str], ...]
    asks_location: bool


def draw(chat_id: str, message: OutMessage) -> Drawn:
    """Buttons carry `step|value`, as on Telegram, so a press on an old message is known."""
    buttons = tuple((option.title, f"{message.step or ''}|{option.value}") for option in message.options)
    return Drawn(chat_id, message.text, buttons, message.request == "location")


def parse(body: dict[str, object]) -> Envelope:
    """`{"from", "id"}` and one of `"text"`, `"button"` (a payload it drew) or
    `"latitude"`/`"longitude"`."""
    if "button" in body:
        step, _, value = str(body["button"]).rpartition("|")
        event = Inbound(kind="choice", value=value, step=step or None)
    elif "latitude" in body:
        event = Inbound(kind="location", latitude=float(str(body["latitude"])), longitude=float(str(body["longitude"])))
    else:
        event = Inbound(kind="text", text=str(body.get("text", "")))
    sender = str(body["from"])
    return Envelope(channel=CHANNEL, external_id=sender, chat_id=sender, event=event, message_id=str(body["id"]))


class EchoChannel:
    name = CHANNEL

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.delivered: list[Drawn] = []

    def routes(self) -> Sequence[web.AbstractRouteDef]:
        return [web.post(INBOUND_PATH, self.inbound)]

    async def start(self) -> None:
        """Nothing to open."""

    async def stop(self) -> None:
        """Nothing to close."""

    async def inbound(self, request: web.Request) -> web.Response:
        """Answered once the message is committed, like a webhook."""
        try:
            envelope = parse(await request.json())
        except (ValueError, KeyError, TypeError):
            return web.Response(status=400)
        await self.runner.handle(envelope)
        return web.Response(status=200)

    async def send(self, chat_id: str, message: OutMessage, skip: int = 0) -> str:
        self.delivered.append(draw(chat_id, message))
        return f"echo-{len(self.delivered)}"


def _enabled(settings: Settings) -> bool:
    return bool(settings.extra.get("echo_enabled"))


def _limits(settings: Settings) -> ChannelLimits:
    """Generous, but real: the sender keeps them as it keeps Telegram's."""
    return channel_limits(per_chat=50.0, burst=10, overall=500.0)


SPEC = ChannelSpec(
    name=CHANNEL,
    build=lambda wiring: EchoChannel(wiring.runner),
    environment={"ECHO_ENABLED": ("echo_enabled", lambda raw: raw.strip().lower() in ("1", "true", "yes"))},
    enabled=_enabled,
    limits=_limits,
)

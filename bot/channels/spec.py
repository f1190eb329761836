"""What a channel declares about itself, in its own module, so that the app, the settings and
the sender learn everything about it from one value (`ChannelSpec`) instead of from its name
spelled in each of them. `bot/channels/registry.py` lists the specs and installs them."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from aiohttp import web

from bot.settings import Setting, Settings

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.ratelimit import ChannelLimits
    from bot.runner import Runner
    from storage.db import Database
    from workflows.texts import Texts


@dataclass(frozen=True)
class Wiring:
    """What the app hands a channel when it builds it: the settings, the runner that takes its
    inbound events, the database, the office's texts and the clock."""

    settings: Settings
    runner: Runner
    db: Database
    texts: Texts
    clock: Clock


class Channel(Protocol):
    """A built channel as the app sees it. One that pushes (`ChannelSpec.pushes`) is also
    `bot.channels.base.Sending`: it draws an `OutMessage`, buttons included, on its platform."""

    name: str

    def routes(self) -> Sequence[web.AbstractRouteDef]:
        """The HTTP routes it receives on (webhooks, an API); none for one that only polls."""
        ...

    async def start(self) -> None:
        """Open clients, register webhooks or start polling; called once the app runs."""
        ...

    async def stop(self) -> None:
        """Close what `start` opened; the app stops channels after the sender."""
        ...


def always(settings: Settings) -> bool:
    """A channel that needs nothing to run."""
    return True


def nothing_to_check(settings: Settings) -> None:
    """A channel without settings that could be half set."""


def unlimited(settings: Settings) -> ChannelLimits | None:
    """A channel whose platform sets no rate for us to keep."""
    return None


@dataclass(frozen=True)
class ChannelSpec:
    """One channel, declared once.

    `name`: the code stored on contacts, tickets and outbox rows (at most 16 characters), and
    the key of its templates (e.g. `templates/console/channel/<name>.html`).
    `build`: makes the channel from the app's `Wiring`; called only when `enabled(settings)`.
    `environment`: the environment variables it reads (`Setting`), merged into the settings.
    `validate`: raises ValueError, naming the variable, when its settings are half set.
    `limits`: how fast the sender may push to it (per chat, burst, whole channel).
    `pushes`: whether the sender delivers its outbox rows through `send`; False for a channel
    whose client fetches its own replies (the web chat's page)."""

    name: str
    build: Callable[[Wiring], Channel]
    environment: Mapping[str, Setting] = field(default_factory=dict)
    enabled: Callable[[Settings], bool] = always
    validate: Callable[[Settings], None] = nothing_to_check
    limits: Callable[[Settings], ChannelLimits | None] = unlimited
    pushes: bool = True

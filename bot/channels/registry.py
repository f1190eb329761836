"""The channels this server knows, and how the app installs those that are switched on.

Each channel declares itself once, as the `SPEC` of its own module (see `bot/channels/spec.py`):
its name, the environment variables it reads, when it is on, its send limits, its routes and
its start and stop. This module lists them (one line per channel) and turns the list into what
the settings, the sender and the app need; nothing else names a channel. CONTRIBUTING.md
walks through adding one.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, cast

from aiohttp import web

from bot.channels import sms, telegram, webchat, whatsapp
from bot.channels.base import Sending
from bot.channels.spec import Channel, ChannelSpec, Wiring
from bot.ratelimit import ChannelLimits
from bot.settings import Settings, read_settings

log = logging.getLogger(__name__)

CHANNELS: tuple[ChannelSpec, ...] = (
    telegram.SPEC,
    whatsapp.SPEC,
    webchat.SPEC,
    sms.SPEC,
)

INSTALLED = web.AppKey("channels", dict[str, Channel])  # name → the built channel, in the order they start


def load_settings(
    env: Mapping[str, str] | None = None, *, channels: Sequence[ChannelSpec] = CHANNELS, **overrides: Any
) -> Settings:
    """The settings from the environment (see `bot.settings.read_settings`), with every
    channel's own variables; then each channel checks its own, so a half-set channel stops
    start-up with the variable's name."""
    environment = {name: setting for spec in channels for name, setting in spec.environment.items()}
    settings = read_settings(env, channels=environment, **overrides)
    for spec in channels:
        spec.validate(settings)
    return settings


def names(extra: Sequence[ChannelSpec] = ()) -> tuple[str, ...]:
    """Every channel the server knows, switched on or not (its tickets and contacts remain)."""
    return tuple(spec.name for spec in (*CHANNELS, *extra))


def switched_on(settings: Settings, extra: Sequence[ChannelSpec] = ()) -> tuple[ChannelSpec, ...]:
    """The known channels, and `extra` ones (a test's, a deployment's own), that `settings`
    turn on; in start order."""
    specs = (*CHANNELS, *extra)
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"two channels share a name: {', '.join(sorted(n for n in set(names) if names.count(n) > 1))}")
    return tuple(spec for spec in specs if spec.enabled(settings))


def send_limits(specs: Sequence[ChannelSpec], settings: Settings) -> dict[str, ChannelLimits]:
    """The sender's limits by channel name, for the channels it pushes to that have any (it
    sizes its slots by them: none for a channel that is off)."""
    limits = {spec.name: spec.limits(settings) for spec in specs if spec.pushes}
    return {name: limit for name, limit in limits.items() if limit is not None}


def install(app: web.Application, specs: Sequence[ChannelSpec], wiring: Wiring, sending: dict[str, Sending]) -> None:
    """Build each channel, add its routes, and give the sender (`sending`, its channel map)
    those it pushes to. Start and stop them with `run_channels` as a cleanup context."""
    built: dict[str, Channel] = {}
    for spec in specs:
        channel = built[spec.name] = spec.build(wiring)
        app.router.add_routes(channel.routes())
        if spec.pushes:
            sending[spec.name] = cast(Sending, channel)
    app[INSTALLED] = built
    app.on_shutdown.append(_end_streams)


async def _end_streams(app: web.Application) -> None:
    """A channel holding long requests open (the web chat's streams) ends them when the server
    starts to shut down; else the server would wait out its shutdown timeout on them."""
    for channel in app[INSTALLED].values():
        end = getattr(channel, "end_streams", None)
        if end is not None:
            await end()


async def run_channels(app: web.Application) -> AsyncIterator[None]:
    """Start the installed channels in order and stop them in reverse; one that fails to stop
    does not keep the others open."""
    started: list[Channel] = []
    try:
        for channel in app[INSTALLED].values():
            await channel.start()
            started.append(channel)
        yield
    finally:
        for channel in reversed(started):
            try:
                await channel.stop()
            except Exception:
                log.exception("%s: stopping failed", channel.name)

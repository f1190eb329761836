"""The aiohttp application: the channels switched on (bot/channels/registry.py), the console,
a health check, and the background parts (database, channels, sender, scheduler) as cleanup
contexts, started and stopped in order."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, AsyncIterator, Mapping, Sequence

from aiohttp import web

from bot import console
from bot.channels import registry
from bot.channels.base import Sending
from bot.channels.spec import ChannelSpec, Wiring
from bot.clock import Clock, utc_now
from bot.runner import Runner
from bot.scheduler import Scheduler
from bot.sender import Sender
from bot.settings import Settings
from storage.db import Database
from storage.migrate import upgrade
from workflows.calendar import WorkingCalendar
from workflows.console import config
from workflows.engine import Engine
from workflows.flowbook import FlowBook, load_flowbook
from workflows.inbound import Intake
from workflows.jobs import JobContext
from workflows.texts import LANGUAGES, Texts

SETTINGS = web.AppKey("settings", Settings)
DATABASE = web.AppKey("database", Database)
RUNNER = web.AppKey("runner", Runner)
SENDER = web.AppKey("sender", Sender)
SCHEDULER = web.AppKey("scheduler", Scheduler)


def build_intake(settings: Settings, *, stored: Mapping[str, Any] | None = None) -> Intake:
    """Load and check the office's flows and texts; any mistake stops start-up here. `stored`:
    the configuration changed in the console (workflows/console/config.py), over the files."""
    book = load_flowbook(settings.flows_dir, stored=stored)
    texts = Texts()
    check_templates(book, texts)
    return Intake(
        book=book,
        engine=Engine(book, ttl=timedelta(hours=settings.conversation_ttl_hours)),
        texts=texts,
        calendar=WorkingCalendar(settings.zone, book.settings.office_days_off),
        attachments_dir=settings.attachments_dir,
        max_photo_bytes=settings.max_photo_bytes,
        console_url=settings.console_url,
    )


def job_context(intake: Intake) -> JobContext:
    """The scheduled jobs work with the same office configuration, texts and case actions."""
    return JobContext(texts=intake.texts, calendar=intake.calendar, casework=intake.casework)


def check_templates(book: FlowBook, texts: Texts) -> None:
    """Every prompt a flow names must exist in every language."""
    missing = sorted(
        f"{key}.{language}.j2"
        for flow in book.flows.values()
        for step in flow.steps
        for key in step.prompt_keys
        for language in LANGUAGES
        if not texts.has(key, language)
    )
    if missing:
        raise ValueError(f"templates missing for the flows: {', '.join(missing)}")


async def healthz(request: web.Request) -> web.Response:
    db = request.app[DATABASE]
    await db.run(lambda s: s.connection().exec_driver_sql("SELECT 1"))
    return web.json_response({"ok": True, "database": db.engine.dialect.name})


def create_app(settings: Settings, *, clock: Clock = utc_now, migrate: bool = True,
               extra_channels: Sequence[ChannelSpec] = ()) -> web.Application:
    """The whole server for `settings`; nothing is read from the environment here.
    `extra_channels`: channels beyond bot/channels/registry.py's list (a test's own)."""
    app = web.Application(client_max_size=settings.max_photo_bytes + 256 * 1024)
    app[SETTINGS] = settings
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    url = settings.effective_database_url
    if migrate:
        upgrade(url)
    db = Database(url)
    app[DATABASE] = db
    channels = registry.switched_on(settings, extra_channels)
    sending: dict[str, Sending] = {}
    sender = Sender(db=db, channels=sending, clock=clock, limits=registry.send_limits(channels, settings),
                    lease=timedelta(seconds=settings.outbox_lease_seconds))
    intake = build_intake(settings, stored=db.run_sync(config.stored_documents))
    runner = Runner(db=db, intake=intake, clock=clock, sender=sender)
    app[RUNNER] = runner
    app[SENDER] = sender
    app[SCHEDULER] = Scheduler(db=db, ctx=job_context(intake), attachments_dir=settings.attachments_dir,
                               clock=clock, tick_seconds=settings.scheduler_tick_seconds)
    registry.install(app, channels, Wiring(settings=settings, runner=runner, db=db, texts=intake.texts, clock=clock), sending)
    console.setup(app, settings=settings, db=db, intake=intake, clock=clock)
    app.router.add_get("/healthz", healthz)
    # Stopped in reverse: the scheduler, then the sender (its last deliveries still need the
    # channels' clients), then the channels, then the database.
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(registry.run_channels)
    app.cleanup_ctx.append(_sender)
    if settings.scheduler_tick_seconds > 0:
        app.cleanup_ctx.append(_scheduler)
    return app


async def _database(app: web.Application) -> AsyncIterator[None]:
    yield
    app[DATABASE].close()


async def _sender(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(app[SENDER].run())
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await app[SENDER].idle()


async def _scheduler(app: web.Application) -> AsyncIterator[None]:
    app[SCHEDULER].start()
    yield
    await app[SCHEDULER].stop()

"""The aiohttp application: the channels switched on (bot/channels/registry.py), the console,
a health check, and the background parts (database, channels, sender, scheduler) as cleanup
contexts, started and stopped in order."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from aiohttp import web

from bot import console
from bot.channels import counted, registry
from bot.channels.base import Sending
from bot.channels.spec import ChannelSpec, Wiring
from bot.clock import Clock, utc_now
from bot.logs import protect_logs
from bot.metrics import METRICS_PATH, Metrics, scrape_handler
from bot.runner import Runner
from bot.scheduler import Scheduler
from bot.sender import Sender
from bot.settings import Settings
from bot.shared_slots import SlotStore, shared_store
from storage.db import Database, DatabaseBusy
from storage.migrate import upgrade
from workflows import config_store
from workflows.calendar import WorkingCalendar
from workflows.casework.desk import Desk
from workflows.engine import Engine
from workflows.flowbook import FlowBook, load_flowbook, source_file
from workflows.inbound import InboundHandler
from workflows.jobs import JobContext
from workflows.services import Services
from workflows.texts import LANGUAGES, Texts

log = logging.getLogger(__name__)

SETTINGS = web.AppKey("settings", Settings)
DATABASE = web.AppKey("database", Database)
RUNNER = web.AppKey("runner", Runner)
SENDER = web.AppKey("sender", Sender)
SCHEDULER = web.AppKey("scheduler", Scheduler)
SERVICES = web.AppKey("services", Services)
METRICS = web.AppKey("metrics", Metrics)


def build_services(settings: Settings, *, stored: Mapping[str, Any] | None = None) -> Services:
    """Load and check the office's flows and texts; any mistake stops start-up here. `stored`:
    the configuration changed in the console (workflows/config_store.py), over the files."""
    book = load_flowbook(settings.flows_dir, stored=stored)
    files_book = load_flowbook(settings.flows_dir) if stored else book
    texts = Texts()
    check_templates(book, texts)
    return Services(
        book=book,
        texts=texts,
        calendar=WorkingCalendar(settings.zone, book.settings.office_days_off),
        attachments_dir=settings.attachments_dir,
        max_photo_bytes=settings.max_photo_bytes,
        console_url=settings.console_url,
        files_book=files_book,
    )


def build_inbound(settings: Settings, services: Services) -> InboundHandler:
    """The chat's side: the engine for citizens and the desk for staff, on `services`."""
    engine = Engine(services.book, ttl=timedelta(hours=settings.conversation_ttl_hours))
    services.share_book(engine)
    return InboundHandler(
        services=services, engine=engine, desk=Desk(services.casework, ttl=engine.ttl, console_url=settings.console_url)
    )


def _log_overrides(db: Database, settings: Settings) -> None:
    """One line per document the console saved: whoever edits the YAML file learns it is ignored."""
    for override in db.run_sync(config_store.overrides).values():
        log.warning(
            "configuration: %s comes from the console (version %s, saved %s UTC by %s); the file %s is ignored",
            override.name,
            override.version,
            f"{override.saved_at:%Y-%m-%d %H:%M}",
            override.saved_by or "?",
            source_file(settings.flows_dir, override.file),
        )


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


@web.middleware
async def database_busy(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """A request whose unit of work gave up waiting for SQLite's write lock (another process
    held it) is answered 503 with Retry-After: nothing of it was written, and a platform
    delivers a webhook again (any other failure to commit is a 500, also retried)."""
    try:
        return await handler(request)
    except DatabaseBusy as busy:
        log.warning("%s %s answered 503: %s", request.method, request.path, busy)
        return web.Response(status=503, headers={"Retry-After": "1"})


async def healthz(request: web.Request) -> web.Response:
    db = request.app[DATABASE]
    await db.run(lambda s: s.connection().exec_driver_sql("SELECT 1"))
    return web.json_response({"ok": True, "database": db.engine.dialect.name})


def create_app(
    settings: Settings, *, clock: Clock = utc_now, migrate: bool = True, extra_channels: Sequence[ChannelSpec] = ()
) -> web.Application:
    """The whole server for `settings`; nothing is read from the environment here.
    `extra_channels`: channels beyond bot/channels/registry.py's list (a test's own)."""
    protect_logs()  # before anything logs: no NIK, phone or message text in any log line
    app = web.Application(client_max_size=settings.max_photo_bytes + 256 * 1024, middlewares=[database_busy])
    app[SETTINGS] = settings
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    url = settings.effective_database_url
    if migrate:
        upgrade(url)
    db = Database(
        url,
        write_wait=settings.database_write_wait_seconds,
        prepared_statements=settings.database_prepared_statements,
    )
    app[DATABASE] = db
    channels = registry.switched_on(settings, extra_channels)
    sending: dict[str, Sending] = {}
    slots = shared_store(url, settings.redis_url)
    sender = Sender(
        db=db,
        channels=sending,
        clock=clock,
        limits=registry.send_limits(channels, settings),
        slots=slots.slots if slots is not None else None,
        lease=timedelta(seconds=settings.outbox_lease_seconds),
    )
    services = build_services(settings, stored=db.run_sync(config_store.stored_documents))
    _log_overrides(db, settings)
    app[SERVICES] = services
    metrics = app[METRICS] = Metrics()
    runner = Runner(
        db=db, inbound=build_inbound(settings, services), services=services, clock=clock, sender=sender, metrics=metrics
    )
    app[RUNNER] = runner
    app[SENDER] = sender
    app[SCHEDULER] = Scheduler(
        db=db,
        ctx=JobContext(services),
        attachments_dir=settings.attachments_dir,
        clock=clock,
        tick_seconds=settings.scheduler_tick_seconds,
    )
    registry.install(
        app, channels, Wiring(settings=settings, runner=runner, db=db, texts=services.texts, clock=clock), sending
    )
    counted.count_sends(sending, metrics)
    console.setup(
        app, settings=settings, db=db, services=services, clock=clock, channels=registry.names(extra_channels)
    )
    app.router.add_get("/healthz", healthz)
    app.router.add_get(METRICS_PATH, scrape_handler(metrics, db, lambda: list(sending), settings.metrics_token))
    # Stopped in reverse: the scheduler, then the sender (its last deliveries still need the
    # channels' clients), then the channels, then the database.
    app.cleanup_ctx.append(_database)
    if settings.config_check_seconds > 0:
        app.cleanup_ctx.append(_config_check)
    app.cleanup_ctx.append(registry.run_channels)
    if slots is not None:
        app.cleanup_ctx.append(functools.partial(_shared_slots, slots))
    app.cleanup_ctx.append(_sender)
    if settings.scheduler_tick_seconds > 0:
        app.cleanup_ctx.append(_scheduler)
    return app


async def _database(app: web.Application) -> AsyncIterator[None]:
    yield
    app[DATABASE].close()


async def _config_check(app: web.Application) -> AsyncIterator[None]:
    """Every few seconds, take up a configuration another process stored (one small query)."""
    task = asyncio.create_task(_check_config(app[DATABASE], app[SERVICES], app[SETTINGS].config_check_seconds))
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _check_config(db: Database, services: Services, seconds: float) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await db.read(services.refresh)
        except Exception:
            log.warning("configuration: the check failed; trying again in %ss", seconds, exc_info=True)


async def _shared_slots(store: SlotStore, app: web.Application) -> AsyncIterator[None]:
    """Closed after the sender: its last sends still answer their slots."""
    yield
    await store.close()


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

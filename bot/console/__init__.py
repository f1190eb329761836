"""The staff web console: queue, cases, map, register, reports, configuration, assisted intake.

Server-rendered pages (Jinja2) with a little plain JavaScript, so they load over a village
connection. Each part of the console is a module with a `routes()` list; `setup` mounts them
all behind the middleware in `web.py`, which signs staff in and checks every form.
"""

from __future__ import annotations

from aiohttp import web

from bot.clock import Clock
from bot.console import (
    admin_pages,
    audit_pages,
    case_pages,
    intake_pages,
    map_pages,
    queue_pages,
    report_pages,
    signin_pages,
)
from bot.console.core import CONSOLE, PREFIX, Console, console_middleware, pages_environment, signed_in
from bot.console.i18n import Words
from bot.server_key import load_server_key
from bot.settings import Settings
from storage.db import Database
from workflows.console import assisted
from workflows.services import Services
from workflows.texts import TEMPLATES_DIR

STATIC_DIR = TEMPLATES_DIR / "console" / "static"
PARTS = (signin_pages, queue_pages, case_pages, map_pages, report_pages, admin_pages, audit_pages, intake_pages)


async def home(request: web.Request) -> web.Response:
    signed_in(request)
    raise web.HTTPSeeOther(PREFIX + "/queue")


def setup(
    app: web.Application,
    *,
    settings: Settings,
    db: Database,
    services: Services,
    clock: Clock,
    channels: tuple[str, ...],
) -> None:
    """Mount the console. `channels`: the names of the channels this server knows (switched on
    or not: their tickets stay), which the queue filters by, besides the desk."""
    pages = pages_environment()
    app[CONSOLE] = Console(
        settings=settings,
        db=db,
        services=services,
        clock=clock,
        pages=pages,
        words=Words(),
        secret=load_server_key(settings.data_dir),
        channels=(*channels, assisted.DESK),
    )
    app.middlewares.append(console_middleware)
    app.router.add_static(PREFIX + "/static/", STATIC_DIR, append_version=True, name="console_static")
    static = app.router["console_static"]
    pages.globals["static"] = lambda name: str(static.url_for(filename=name))
    app.router.add_get(PREFIX, home)
    app.router.add_get(PREFIX + "/", home)
    for part in PARTS:
        app.router.add_routes(part.routes())

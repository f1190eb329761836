"""`satupintu`: serve, migrate, staff, digest, retention."""

from __future__ import annotations

import argparse
import logging
import sys

from aiohttp import web

from bot import digest_cli, retention_cli, staff_cli
from bot.channels import telegram as telegram_channel
from bot.channels.registry import load_settings


def _serve(args: argparse.Namespace) -> int:
    from bot.app import create_app

    settings = load_settings(host=args.host, port=args.port)
    app = create_app(settings)
    where = (
        f"http://{'localhost' if settings.host in ('0.0.0.0', '127.0.0.1', '::') else settings.host}:{settings.port}/"
    )
    database = settings.effective_database_url.split("://", 1)[0]
    telegram = (
        ("webhook" if settings.telegram_webhook_url else "polling")
        if telegram_channel.SPEC.enabled(settings)
        else "off (no TELEGRAM_BOT_TOKEN)"
    )

    def ready(_: object) -> None:
        print(
            f"Satupintu is running.\n  Web chat:  {where}\n  Console:   {where}console/\n  Database:  {database}\n  Data dir:  {settings.data_dir.resolve()}\n  Telegram:  {telegram}",
            flush=True,
        )

    web.run_app(app, host=settings.host, port=settings.port, print=ready, access_log=None, shutdown_timeout=10)
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from storage.migrate import upgrade

    settings = load_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.effective_database_url)
    print("Database is up to date.")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="satupintu", description="Chat intake for social-welfare offices.")
    parser.add_argument("--log-level", default="INFO")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the web chat, Telegram bot and sender")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.set_defaults(run=_serve)
    migrate = commands.add_parser("migrate", help="bring the database schema up to date")
    migrate.set_defaults(run=_migrate)
    staff_cli.register(commands)
    digest_cli.register(commands)
    retention_cli.register(commands)
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "alembic.runtime.plugins"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())

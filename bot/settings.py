"""One settings object, built from the environment (and an optional TOML file) at start-up.

Nothing reads the environment at import time: tests and the CLI build a `Settings` explicitly,
so two servers with different settings can live in one process.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

DEFAULT_TELEGRAM_API = "https://api.telegram.org/bot"
DEFAULT_TELEGRAM_FILES = "https://api.telegram.org/file/bot"
DEFAULT_WHATSAPP_API = "https://graph.facebook.com/v23.0"  # a pinned Graph API version: upgrade on purpose

# An environment variable read at start-up: the settings field it fills and how to read it. A
# name that is not a field of `Settings` lands in `Settings.extra` (as a TOML key does), where
# a new channel finds its own settings without adding fields here.
Setting = tuple[str, Callable[[str], Any]]


@dataclass(frozen=True)
class Settings:
    """Everything a deployment can change without touching code. The fields of the built-in
    channels (telegram_*, whatsapp_*) are typed here because the console and the CLI read some
    of them; the variables that set them, and what they mean together (enabled, limits,
    checks), are declared by each channel (`bot/channels/<name>.py`, its `SPEC`)."""

    data_dir: Path = Path("data")
    database_url: str | None = None
    redis_url: str | None = None  # where the processes share the send limits (else the PostgreSQL database)
    # SQLite: how long a message waits for a write lock another process holds before its
    # webhook answers 5xx (the platform delivers it again); the server serves everyone else meanwhile.
    database_write_wait_seconds: float = 5.0
    # PostgreSQL: psycopg's server-side prepared statements; off behind PgBouncer's transaction
    # pooling older than 1.21 (or without max_prepared_statements), which cannot follow them.
    database_prepared_statements: bool = True
    host: str = "127.0.0.1"
    port: int = 8080
    timezone: str = "Asia/Jakarta"
    telegram_bot_token: str | None = None
    telegram_api_base_url: str = DEFAULT_TELEGRAM_API
    telegram_file_base_url: str = DEFAULT_TELEGRAM_FILES
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: str | None = None
    telegram_bot_username: str | None = None
    telegram_rate_per_chat: float = 1.0  # messages/s to one chat; 0 turns the limit off
    telegram_rate_burst: int = 3  # messages one chat may get at once (a reply of a few parts)
    telegram_rate_global: float = 30.0  # messages/s for the whole bot; 0 turns the limit off
    whatsapp_access_token: str | None = None
    whatsapp_phone_number_id: str | None = None
    whatsapp_app_secret: str | None = None
    whatsapp_verify_token: str | None = None
    whatsapp_api_base_url: str = DEFAULT_WHATSAPP_API
    whatsapp_display_number: str | None = None  # the number people write to, so `staff invite` can print a wa.me link
    whatsapp_rate_per_chat: float = 1.0  # messages/s to one person (WhatsApp's pair rate limit); 0 = off
    whatsapp_rate_burst: int = 3
    whatsapp_rate_global: float = 80.0  # messages/s for the number (Cloud API's default throughput); 0 = off
    conversation_ttl_hours: float = 24.0
    scheduler_tick_seconds: float = 60.0  # how often the jobs run; 0 turns the scheduler off
    config_check_seconds: float = 5.0  # how often a process looks for a configuration another one stored; 0: never
    outbox_lease_seconds: float = 60.0  # a crashed sender's leased messages are sent again after this
    max_photo_bytes: int = 10 * 1024 * 1024
    # The staff console: the address staff reach the server at (links sent to their chat),
    # the map's tile server ("" for none: the map still shows its cases), and whether a proxy
    # in front sets X-Forwarded-For (sign-in throttling counts by the real address then).
    public_url: str | None = None
    map_tile_url: str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    behind_proxy: bool = False
    metrics_token: str | None = None  # when set, /metrics wants it as a bearer token
    flows_dir: Path | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def effective_database_url(self) -> str:
        """SQLite in the data dir unless `DATABASE_URL` names another database."""
        if self.database_url:
            return normalise_database_url(self.database_url)
        return f"sqlite:///{(self.data_dir / 'satupintu.db').resolve()}"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def attachments_dir(self) -> Path:
        return self.data_dir / "attachments"

    @property
    def console_url(self) -> str:
        """The console's address as sent to staff: PUBLIC_URL, else this machine's port."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "localhost" if self.host in ("0.0.0.0", "127.0.0.1", "::") else self.host
        return f"http://{host}:{self.port}"

    def validate(self) -> None:
        """Fail at start-up, with the variable's name, rather than on the first message."""
        ZoneInfo(self.timezone)


def _flag(raw: str) -> bool:
    return raw.strip().lower() in ("1", "true", "yes")


_ENV: dict[str, Setting] = {
    "SATUPINTU_DATA_DIR": ("data_dir", Path),
    "DATABASE_URL": ("database_url", str),
    "REDIS_URL": ("redis_url", str),
    "SATUPINTU_DATABASE_WRITE_WAIT_SECONDS": ("database_write_wait_seconds", float),
    "SATUPINTU_DATABASE_PREPARED_STATEMENTS": ("database_prepared_statements", _flag),
    "SATUPINTU_HOST": ("host", str),
    "SATUPINTU_PORT": ("port", int),
    "SATUPINTU_TIMEZONE": ("timezone", str),
    "SATUPINTU_CONVERSATION_TTL_HOURS": ("conversation_ttl_hours", float),
    "SATUPINTU_SCHEDULER_TICK_SECONDS": ("scheduler_tick_seconds", float),
    "SATUPINTU_CONFIG_CHECK_SECONDS": ("config_check_seconds", float),
    "SATUPINTU_OUTBOX_LEASE_SECONDS": ("outbox_lease_seconds", float),
    "SATUPINTU_MAX_PHOTO_BYTES": ("max_photo_bytes", int),
    "SATUPINTU_FLOWS_DIR": ("flows_dir", Path),
    "SATUPINTU_PUBLIC_URL": ("public_url", str),
    "SATUPINTU_BEHIND_PROXY": ("behind_proxy", _flag),
    "SATUPINTU_MAP_TILE_URL": ("map_tile_url", str),
    "SATUPINTU_METRICS_TOKEN": ("metrics_token", str),
}


def normalise_database_url(url: str) -> str:
    """Accept the URLs people paste (`postgres://`, `postgresql://`) and use psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def read_settings(
    env: Mapping[str, str] | None = None, *, channels: Mapping[str, Setting] = {}, **overrides: Any
) -> Settings:
    """Build settings: defaults, then the TOML file named by `SATUPINTU_CONFIG`, then the
    environment (ours and the `channels`' variables), then explicit overrides (command-line
    flags). Use `bot.channels.registry.load_settings`, which passes the known channels' variables
    and lets each check its own."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    known = {f.name for f in fields(Settings)}
    config_path = env.get("SATUPINTU_CONFIG")
    if config_path:
        with open(config_path, "rb") as fh:
            table = tomllib.load(fh)
        extra.update({k: v for k, v in table.items() if k not in known})
        values.update({k: v for k, v in table.items() if k in known})
    for name, (attr, kind) in {**_ENV, **channels}.items():
        raw = env.get(name)
        if raw is not None and (raw != "" or attr == "map_tile_url"):
            (values if attr in known else extra)[attr] = kind(raw)
    for key in ("data_dir", "flows_dir"):
        if isinstance(values.get(key), str):
            values[key] = Path(values[key])
    if extra:
        values["extra"] = extra
    settings = replace(Settings(), **values)
    settings = replace(settings, **{k: v for k, v in overrides.items() if v is not None})
    settings.validate()
    return settings

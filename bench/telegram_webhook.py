"""Benchmark: the Telegram webhook with N simulated citizens, next to a bare aiohttp handler.

Our server is a real `satupintu serve` process in webhook mode, its outbox sender delivering
every reply to the local fake Bot API; the baseline is a separate process running an aiohttp
handler that only parses the JSON. The fake API and the load generator live in this process,
as Telegram would live on another machine. Both servers are measured in the same run, on the
same machine, and the ratio is the figure to watch (see bench/webhook_load.py for the load).

    python bench/telegram_webhook.py [--citizens 300] [--rate 100] [--seconds 10] [--database URL]
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.webhook_load import Target, arguments, compare
from tests.fakes.telegram_api import FakeTelegramAPI

TOKEN = "123456:BENCH-TOKEN"
SECRET = "bench_secret"


def update(update_id: int, user_id: int, text: str) -> dict[str, Any]:
    sender = {"id": user_id, "is_bot": False, "first_name": f"Warga{user_id}", "language_code": "id"}
    message: dict[str, Any] = {
        "message_id": update_id,
        "date": int(time.time()),
        "text": text,
        "chat": {"id": user_id, "type": "private", "first_name": sender["first_name"]},
        "from": sender,
    }
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return {"update_id": update_id, "message": message}


def telegram_target(port: int) -> Target:
    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET}
    return Target(
        "satupintu",
        f"http://127.0.0.1:{port}/telegram/webhook",
        lambda n, user, text: (json.dumps(update(n, user, text)).encode(), headers),
    )


async def main() -> None:
    args = arguments(__doc__.split("\n\n")[0])
    fake = FakeTelegramAPI(TOKEN)
    await fake.start()
    try:
        await compare(
            "Telegram webhook",
            args,
            lambda port: {
                "TELEGRAM_BOT_TOKEN": TOKEN,
                "TELEGRAM_API_BASE_URL": fake.base_url,
                "TELEGRAM_FILE_BASE_URL": fake.base_file_url,
                "TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram/webhook",
                "TELEGRAM_WEBHOOK_SECRET": SECRET,
                # Measures the pipeline, not Telegram's flood limits (bench/sender_rate.py does those).
                "TELEGRAM_RATE_PER_CHAT": "0",
                "TELEGRAM_RATE_GLOBAL": "0",
            },
            telegram_target,
            fake.add_chat,
            lambda: fake.count_sent,
            lambda: sum(1 for e in fake.errors if e[2] != 429),
        )
    finally:
        await fake.close()


if __name__ == "__main__":
    asyncio.run(main())

"""Benchmark: the WhatsApp webhook with N simulated citizens, next to a bare aiohttp handler.

Our server is a real `satupintu serve` process with WhatsApp on: every delivery's signature is
checked, every message handled and committed before the 200, and every reply sent through the
outbox to the local fake Graph API (each send first checks the person's 24-hour window). The
baseline is a separate process running an aiohttp handler that only parses the JSON. Both are
measured in the same run; the ratio is the figure to watch (see bench/webhook_load.py).

    python bench/whatsapp_webhook.py [--citizens 300] [--rate 100] [--seconds 10] [--database URL]
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.webhook_load import Target, arguments, compare
from tests.fakes.graph_api import FakeGraphAPI


def delivery(number: int, wa_id: str, text: str) -> dict[str, Any]:
    message = {
        "from": wa_id,
        "id": f"wamid.bench{number}",
        "timestamp": str(int(time.time())),
        "type": "text",
        "text": {"body": text},
    }
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "6281100000000", "phone_number_id": "1"},
        "contacts": [{"profile": {"name": f"Warga {wa_id[-4:]}"}, "wa_id": wa_id}],
        "messages": [message],
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"value": value, "field": "messages"}]}],
    }


def whatsapp_target(port: int, secret: str) -> Target:
    def encode(number: int, user: int, text: str) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(delivery(number, f"62812{user:08d}", text)).encode()
        signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return body, {"Content-Type": "application/json", "X-Hub-Signature-256": signature}

    return Target("satupintu", f"http://127.0.0.1:{port}/whatsapp/webhook", encode)


async def main() -> None:
    args = arguments(__doc__.split("\n\n")[0])
    # The load skips the fake's own webhook sender, so the fake never sees the people write:
    # its window check is off (the server keeps its own, which is what is measured).
    fake = FakeGraphAPI(enforce_window=False)
    await fake.start()
    try:
        await compare(
            "WhatsApp webhook",
            args,
            lambda port: {
                "WHATSAPP_ACCESS_TOKEN": fake.access_token,
                "WHATSAPP_PHONE_NUMBER_ID": fake.phone_number_id,
                "WHATSAPP_APP_SECRET": fake.app_secret,
                "WHATSAPP_VERIFY_TOKEN": "bench",
                "WHATSAPP_API_BASE_URL": fake.api_base_url,
                # Measures the pipeline, not the rate limits (bench/sender_rate.py does those).
                "WHATSAPP_RATE_PER_CHAT": "0",
                "WHATSAPP_RATE_GLOBAL": "0",
            },
            lambda port: whatsapp_target(port, fake.app_secret),
            lambda user: None,
            lambda: len(fake.all_sent()),
            lambda: sum(1 for call in fake.calls if call.status != 200),
        )
    finally:
        await fake.close()


if __name__ == "__main__":
    asyncio.run(main())

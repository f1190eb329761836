"""A real `satupintu serve` subprocess on the fake Bot API, to be killed and started again:
for tests of what survives a crash or an outage. Its output is collected as it comes."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

from tests.fakes.telegram_api import FakeTelegramAPI

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "123456:TEST-TOKEN"
SECRET = "s3cret_Token-for-tests"


class ServeProcess:
    """`satupintu serve` on `port` with `database_url`, in webhook or polling mode. The lease
    is short (`lease_seconds`) so that what a killed server had in hand is taken up again soon."""

    def __init__(
        self,
        fake: FakeTelegramAPI,
        *,
        data_dir: Path,
        database_url: str,
        port: int,
        webhook: bool,
        lease_seconds: float = 2.0,
    ) -> None:
        self.fake = fake
        self.port = port
        self.webhook = webhook
        self.env = {
            **os.environ,  # PYTHONPATH included: a worktree's code is what runs
            "SATUPINTU_DATA_DIR": str(data_dir),
            "DATABASE_URL": database_url,
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE_URL": fake.base_url,
            "TELEGRAM_FILE_BASE_URL": fake.base_file_url,
            "TELEGRAM_RATE_PER_CHAT": "0",
            "TELEGRAM_RATE_GLOBAL": "0",
            "SATUPINTU_OUTBOX_LEASE_SECONDS": str(lease_seconds),
            "SATUPINTU_SCHEDULER_TICK_SECONDS": "0",
        }
        if webhook:
            self.env["TELEGRAM_WEBHOOK_URL"] = f"http://127.0.0.1:{port}/telegram/webhook"
            self.env["TELEGRAM_WEBHOOK_SECRET"] = SECRET
        self.lines: list[str] = []
        self.process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self, seconds: float = 60) -> None:
        """Start it and wait until it takes updates (it set its webhook, or polls)."""
        calls_before = len(self.fake.calls)
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.cli",
            "serve",
            "--port",
            str(self.port),
            cwd=ROOT,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        self._reader = asyncio.create_task(self._read(self.process))
        ready = "setWebhook" if self.webhook else "getUpdates"
        deadline = time.monotonic() + seconds
        while not any(method == ready for method, _ in self.fake.calls[calls_before:]):
            assert self.process.returncode is None, "serve stopped:\n" + "\n".join(self.lines[-40:])
            assert time.monotonic() < deadline, "serve never took updates:\n" + "\n".join(self.lines[-40:])
            await asyncio.sleep(0.05)

    async def _read(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        async for line in process.stdout:
            self.lines.append(line.decode(errors="replace").rstrip())

    async def kill(self) -> None:
        """SIGKILL: no goodbye, nothing flushed, nothing marked."""
        await self._end(signal.SIGKILL)

    async def stop(self) -> int:
        """SIGTERM, as an operator would; the exit code."""
        return await self._end(signal.SIGTERM)

    async def _end(self, sig: int) -> int:
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(sig)
        code = await asyncio.wait_for(self.process.wait(), 30)
        if self._reader is not None:
            await asyncio.wait_for(self._reader, 5)
        return code

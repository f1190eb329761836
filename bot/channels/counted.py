"""The sender's channels, counted: each delivery and each failed send goes to the metrics
(`bot/metrics.py`) by channel and code, without the sender or the channels knowing."""

from __future__ import annotations

import re
from typing import Any

from bot.channels.base import HoldForReply, PermanentFailure, RetryLater, Sending, Sent
from bot.metrics import Metrics
from workflows.messages import OutMessage

# A failure's reason leads with its code: "429 retry_after", "whatsapp 131047: …", "sms gateway
# 500: …". Only a number among the first words is taken: the rest may quote a person's message.
_CODE = re.compile(r"^(?:[A-Za-z_]+ ){0,2}(\d{3,6})\b")


def failure_code(reason: str) -> str:
    """The label of a failed send: the platform's code, `network`, or `other`."""
    if reason.startswith("network"):
        return "network"
    found = _CODE.match(reason)
    return found.group(1) if found else "other"


def count_sends(sending: dict[str, Sending], metrics: Metrics) -> None:
    """Count every send of the sender's channels, by wrapping each in place."""
    for name, channel in list(sending.items()):
        sending[name] = CountedSending(channel, metrics)


class CountedSending:
    """A channel as the sender sees it, counting what it delivers and what fails. A message
    held for the person's reply is not a failure: the held gauge shows it."""

    def __init__(self, inner: Sending, metrics: Metrics) -> None:
        self.inner = inner
        self.name = inner.name
        self.metrics = metrics

    async def send(self, chat_id: str, message: OutMessage, skip: int = 0) -> str | Sent | None:
        try:
            result = await self.inner.send(chat_id, message, skip)
        except HoldForReply:
            raise
        except RetryLater as later:
            self.metrics.failed(self.name, failure_code(later.reason))
            raise
        except PermanentFailure as failure:
            self.metrics.failed(self.name, failure_code(str(failure)))
            raise
        except Exception:
            self.metrics.failed(self.name, "error")
            raise
        self.metrics.delivered(self.name)
        return result

    def __getattr__(self, name: str) -> Any:  # anything else a caller asks of the channel
        return getattr(self.inner, name)

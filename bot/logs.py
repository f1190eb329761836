"""What the process's logs may carry: ids and reasons, never a person's NIK, phone or name.

Two guards, installed once per process by `create_app`: the transport libraries that dump
whole requests and answers at DEBUG (python-telegram-bot logs every update's text, httpx every
URL) are held at INFO or above whatever the root level, and every log record, whichever
handler writes it, has NIK- and phone-like numbers masked (`workflows.validation.redaction`).
"""

from __future__ import annotations

import logging
from typing import Any

from workflows.validation.redaction import redact

# Libraries whose DEBUG lines hold message texts and bodies (personal data), and their floor.
PAYLOAD_LOGGERS = {"telegram": logging.INFO, "httpx": logging.WARNING, "httpcore": logging.WARNING}
_FORMATTER = logging.Formatter()


def _redacting(factory: Any) -> Any:
    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = factory(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the handler to report
            return record
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(_FORMATTER.formatException(record.exc_info))
        return record

    make.redacts = True  # type: ignore[attr-defined]
    return make


def protect_logs() -> None:
    """Hold the payload loggers above DEBUG and mask numbers in every record; idempotent."""
    for name, floor in PAYLOAD_LOGGERS.items():
        logger = logging.getLogger(name)
        if logger.level < floor:  # NOTSET too: a root at DEBUG must not reach them
            logger.setLevel(floor)
    factory = logging.getLogRecordFactory()
    if not getattr(factory, "redacts", False):
        logging.setLogRecordFactory(_redacting(factory))

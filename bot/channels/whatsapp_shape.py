"""A channel-agnostic message drawn as WhatsApp Cloud API requests, within WhatsApp's limits.

Up to three short choices become reply buttons; more, or longer ones, a list (ten rows at
most, so a longer list goes out as several); a location question becomes WhatsApp's "send
location" request, with any other choices after it. Texts too long for one message are split
at line ends. Nothing is cut silently: a row title too long for WhatsApp is shortened with "…"
and given in full as the row's description. Pure functions: no network, no database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.channels.base import split_text
from workflows.messages import OutMessage, RenderedOption

TEXT_LIMIT = 4096
INTERACTIVE_BODY_LIMIT = 1024  # reply buttons and the location request
LIST_BODY_LIMIT = 4096
BUTTONS_MAX, BUTTON_TITLE_MAX = 3, 20
ROWS_MAX, ROW_TITLE_MAX, ROW_DESCRIPTION_MAX = 10, 24, 72
LIST_BUTTON_MAX = 20


@dataclass(frozen=True)
class Labels:
    """Words of our own that WhatsApp's shapes need, in the reader's language (from templates)."""

    choose: str  # the button that opens a list
    or_choose: str  # the text above choices that follow a location request


def reply_id(message: OutMessage, option: RenderedOption) -> str:
    """What a press sends back: `step|value`, as on Telegram, so old presses are recognised."""
    return f"{message.step or ''}|{option.value}"


def requests_for(message: OutMessage, labels: Labels) -> list[dict[str, Any]]:
    """The bodies of the requests (without `to`/`messaging_product`) that say `message`, in order."""
    if message.request == "location":
        *before, last = split_text(message.text, INTERACTIVE_BODY_LIMIT)
        requests = [_text(part) for part in before]
        requests.append(
            _interactive(
                {"type": "location_request_message", "body": {"text": last}, "action": {"name": "send_location"}}
            )
        )
        if message.options:
            requests += _choices(message, labels.or_choose, labels)
        return requests
    if message.options:
        return _choices(message, message.text, labels)
    return [_text(part) for part in split_text(message.text, TEXT_LIMIT)]


def _choices(message: OutMessage, text: str, labels: Labels) -> list[dict[str, Any]]:
    options = message.options
    if len(options) <= BUTTONS_MAX and all(len(o.title) <= BUTTON_TITLE_MAX and not o.description for o in options):
        *before, last = split_text(text, INTERACTIVE_BODY_LIMIT)
        buttons = [{"type": "reply", "reply": {"id": reply_id(message, o), "title": o.title}} for o in options]
        return [
            *(_text(part) for part in before),
            _interactive({"type": "button", "body": {"text": last}, "action": {"buttons": buttons}}),
        ]
    *before, last = split_text(text, LIST_BODY_LIMIT)
    requests = [_text(part) for part in before]
    pages = [options[start : start + ROWS_MAX] for start in range(0, len(options), ROWS_MAX)]
    label = labels.choose[:LIST_BUTTON_MAX]
    for number, page in enumerate(pages, start=1):
        body = last if number == 1 else f"{_first_line(last)} ({number}/{len(pages)})"
        requests.append(
            _interactive(
                {
                    "type": "list",
                    "body": {"text": body},
                    "action": {"button": label, "sections": [{"rows": _rows(message, page)}]},
                }
            )
        )
    return requests


def _rows(message: OutMessage, options: Sequence[RenderedOption]) -> list[dict[str, Any]]:
    rows = []
    for option in options:
        row = {"id": reply_id(message, option), "title": _fit(option.title, ROW_TITLE_MAX)}
        description = option.description or (option.title if len(option.title) > ROW_TITLE_MAX else None)
        if description:
            row["description"] = _fit(description, ROW_DESCRIPTION_MAX)
        rows.append(row)
    return rows


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _first_line(text: str) -> str:
    return _fit(text.strip().splitlines()[0] if text.strip() else "", LIST_BODY_LIMIT - 16)


def _text(body: str) -> dict[str, Any]:
    return {"type": "text", "text": {"body": body, "preview_url": False}}


def _interactive(interactive: dict[str, Any]) -> dict[str, Any]:
    return {"type": "interactive", "interactive": interactive}

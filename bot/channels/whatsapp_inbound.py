"""WhatsApp webhook deliveries read into our events: the signature check, the messages (one
Envelope each) and the status reports on what we sent. Pure: no network, no database.

A citizen is their `wa_id` (their phone number in digits); that is also the chat to answer.
WhatsApp tells nobody's language, so the conversation starts in Indonesian and the person
may switch.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from storage.outbox import DeliveryReport
from workflows.engine import Inbound
from workflows.inbound import Envelope
from workflows.validation.phone import normalize_phone

CHANNEL = "whatsapp"
SIGNATURE_HEADER = "X-Hub-Signature-256"
IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp")
PDF_TYPE = "application/pdf"
STATUSES = ("sent", "delivered", "read", "failed")


def signature_valid(body: bytes, header: str | None, app_secret: str) -> bool:
    """`sha256=<hex HMAC-SHA256 of the raw body with the app secret>`, compared in constant time."""
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(header.removeprefix("sha256=").strip().lower().encode(), expected.encode())


@dataclass(frozen=True)
class Incoming:
    """One message from a person, and the media id of its image or PDF if it is one."""

    envelope: Envelope
    media_id: str | None = None
    media_type: str | None = None
    written_at: datetime | None = None  # the message's own time, by WhatsApp


def read_delivery(payload: Any) -> tuple[list[Incoming], list[DeliveryReport]]:
    """Everything in one webhook delivery (WhatsApp may batch several messages and statuses).
    Parts we do not know (another field, a system notice) are left out, not refused."""
    incoming: list[Incoming] = []
    reports: list[DeliveryReport] = []
    for value in _values(payload):
        names = {
            c.get("wa_id"): (c.get("profile") or {}).get("name")
            for c in value.get("contacts") or ()
            if isinstance(c, dict)
        }
        for message in value.get("messages") or ():
            item = _message(message, names)
            if item is not None:
                incoming.append(item)
        for status in value.get("statuses") or ():
            report = _status(status)
            if report is not None:
                reports.append(report)
    return incoming, reports


def _values(payload: Any) -> Iterator[dict[str, Any]]:
    if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
        return
    for entry in payload.get("entry") or ():
        for change in (entry or {}).get("changes") or ():
            if isinstance(change, dict) and change.get("field") == "messages" and isinstance(change.get("value"), dict):
                yield change["value"]


def _message(message: Any, names: dict[Any, Any]) -> Incoming | None:
    if not isinstance(message, dict) or not message.get("from") or not message.get("id"):
        return None
    kind = message.get("type")
    if kind == "system":  # "the person changed their number" and the like: nothing to answer
        return None
    event, media = _event(kind, message)
    wa_id = str(message["from"])
    name = names.get(wa_id)
    envelope = Envelope(
        channel=CHANNEL,
        external_id=wa_id,
        chat_id=wa_id,
        event=event,
        message_id=str(message["id"]),
        display_name=str(name)[:128] if name else None,
        phone=normalize_phone("+" + wa_id),
    )
    media_id, media_type = media or (None, None)
    return Incoming(envelope, media_id, media_type, written_at=_time(message.get("timestamp")))


def _event(kind: Any, message: dict[str, Any]) -> tuple[Inbound, tuple[str, str] | None]:
    body: dict[str, Any] = message[kind] if isinstance(kind, str) and isinstance(message.get(kind), dict) else {}
    if kind == "text":
        return Inbound(kind="text", text=str(body.get("body", ""))), None
    if kind == "interactive":
        reply = body.get("button_reply") or body.get("list_reply") or {}
        return _choice(str(reply.get("id", ""))), None
    if kind == "button":  # a template's quick-reply button
        return _choice(str(body.get("payload", ""))), None
    if kind == "location" and "latitude" in body and "longitude" in body:
        return Inbound(kind="location", latitude=float(body["latitude"]), longitude=float(body["longitude"])), None
    if kind in ("image", "document") and body.get("id") and (kind == "image" or body.get("mime_type") in IMAGE_TYPES):
        return Inbound(kind="photo"), (str(body["id"]), str(body.get("mime_type", "")))
    if kind == "document" and body.get("id") and body.get("mime_type") == PDF_TYPE:
        return Inbound(kind="document"), (str(body["id"]), PDF_TYPE)  # the bytes are checked, not this type
    if kind == "contacts":
        phones = [p for c in message.get("contacts") or () for p in (c or {}).get("phones") or ()]
        if phones:
            return Inbound(kind="contact", phone=str(phones[0].get("phone") or phones[0].get("wa_id") or "")), None
    return Inbound(kind="unsupported", media=str(kind or "other")[:32]), None


def _choice(data: str) -> Inbound:
    step, _, value = data.rpartition("|")
    return Inbound(kind="choice", value=value, step=step or None)


def _status(status: Any) -> DeliveryReport | None:
    if not isinstance(status, dict) or status.get("status") not in STATUSES or not status.get("id"):
        return None
    errors = status.get("errors") or []
    error = errors[0] if errors and isinstance(errors[0], dict) else {}
    code = error.get("code")
    detail = (error.get("error_data") or {}).get("details") or error.get("message") or error.get("title")
    return DeliveryReport(
        external_id=str(status["id"]),
        status=str(status["status"]),
        at=_time(status.get("timestamp")) or datetime.now(UTC),
        error_code=int(code) if isinstance(code, (int, str)) and str(code).isdigit() else None,
        error=str(detail)[:400] if detail else None,
    )


def _time(value: Any) -> datetime | None:
    """WhatsApp's timestamps are Unix seconds, as strings."""
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None

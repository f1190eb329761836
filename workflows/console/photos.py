"""The citizen's photos of a case, behind addresses nobody can guess or walk.

A photo's address carries its attachment id and an HMAC of that id and the ticket's id under
the console's secret. Changing the id, or taking an address from another case, gives an address
the server never signed, so it reads as "not found"; a leaked address is still only served to
staff who may see the case (the page handler checks that first).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlmodel import Session, col

from storage.files import ALLOWED
from storage.models import Attachment, stored_id

IMAGE_TYPES = frozenset(content_type for content_type, _ in ALLOWED.values())
_TOKEN = re.compile(r"([0-9]{1,9})-([0-9a-f]{32})")  # an id that fits the column, then the MAC


@dataclass(frozen=True)
class Photo:
    """A photo as the case page shows it: the row and its signed address part."""

    attachment: Attachment
    token: str


def _mac(secret: bytes, *, ticket_id: int, attachment_id: int) -> str:
    message = f"photo:{ticket_id}:{attachment_id}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:32]


def sign(secret: bytes, *, ticket_id: int, attachment_id: int) -> str:
    return f"{attachment_id}-{_mac(secret, ticket_id=ticket_id, attachment_id=attachment_id)}"


def verify(secret: bytes, token: str, *, ticket_id: int) -> int | None:
    """The attachment id a token was signed for on this ticket, or None for any other token."""
    match = _TOKEN.fullmatch(token)
    if match is None:
        return None
    attachment_id = int(match.group(1))
    expected = _mac(secret, ticket_id=ticket_id, attachment_id=attachment_id)
    return attachment_id if hmac.compare_digest(expected, match.group(2)) else None


def of_ticket(session: Session, *, ticket_id: int, secret: bytes) -> list[Photo]:
    """The ticket's photos in the order the citizen sent them, each with its address part."""
    rows: Sequence[Attachment] = (
        session.execute(select(Attachment).where(col(Attachment.ticket_id) == ticket_id).order_by(col(Attachment.id)))
        .scalars()
        .all()
    )
    return [Photo(row, sign(secret, ticket_id=ticket_id, attachment_id=stored_id(row))) for row in rows]


def find(session: Session, *, ticket_id: int, attachment_id: int) -> Attachment | None:
    """The attachment, only if it belongs to this ticket."""
    attachment = session.get(Attachment, attachment_id)
    return attachment if attachment is not None and attachment.ticket_id == ticket_id else None


def file_of(root: Path, attachment: Attachment) -> Path | None:
    """The photo's file under the attachments dir; None if it is gone or the stored path
    would lead outside the dir (a row written by anything but `storage.files`)."""
    base = root.resolve()
    path = (base / attachment.path).resolve()
    if not path.is_relative_to(base) or not path.is_file():
        return None
    return path


def content_type_of(attachment: Attachment) -> str:
    """The stored type when it is one of the image types we keep; anything else is served as
    bytes to download, never as something a browser would run."""
    return attachment.content_type if attachment.content_type in IMAGE_TYPES else "application/octet-stream"

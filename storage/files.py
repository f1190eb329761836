"""Photos and documents on disk, named by content hash, after size and type checks.

The bytes come from a citizen's phone, so they are checked before anything keeps them: a size
limit, Pillow must recognise a JPEG, PNG or WebP image (not merely a name ending in .jpg), and
Pillow's decompression-bomb guard applies. A document (a family card, a letter) must be a PDF
by its first bytes and its end-of-file marker, whatever its name or declared type says.
Identical files are stored once.
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

ALLOWED = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png"), "WEBP": ("image/webp", "webp")}
PDF = ("application/pdf", "pdf")
PDF_HEADER = b"%PDF-"
PDF_END = b"%%EOF"
PDF_TAIL = 1024  # the end-of-file marker sits in the last bytes (a few trailing newlines allowed)


@dataclass(frozen=True)
class StoredPhoto:
    sha256: str
    path: str  # relative to the attachments dir
    content_type: str
    size: int
    width: int
    height: int


class PhotoRejected(Exception):
    """`reason` is one of too_large, bad_type, unreadable, not_pdf (a template says it kindly)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def inspect_photo(data: bytes, *, max_bytes: int) -> tuple[str, str, int, int]:
    """(content type, extension, width, height) of an acceptable photo, else PhotoRejected."""
    if len(data) > max_bytes:
        raise PhotoRejected("too_large")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                kind = image.format
                width, height = image.size
                image.verify()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise PhotoRejected("too_large") from None
    except Exception:
        raise PhotoRejected("unreadable") from None
    if kind not in ALLOWED:
        raise PhotoRejected("bad_type")
    content_type, extension = ALLOWED[kind]
    return content_type, extension, width, height


def inspect_document(data: bytes, *, max_bytes: int) -> tuple[str, str]:
    """(content type, extension) of an acceptable PDF, else PhotoRejected: the bytes decide,
    never the file's name or the type the sender's phone declared."""
    if len(data) > max_bytes:
        raise PhotoRejected("too_large")
    if not data.startswith(PDF_HEADER) or PDF_END not in data[-PDF_TAIL:]:
        raise PhotoRejected("not_pdf")
    return PDF


def store_photo(root: Path, data: bytes, *, max_bytes: int) -> StoredPhoto:
    """Check and write `data` under `root`; written atomically so a crash leaves no half file."""
    content_type, extension, width, height = inspect_photo(data, max_bytes=max_bytes)
    return _write(root, data, content_type, extension, width, height)


def store_document(root: Path, data: bytes, *, max_bytes: int) -> StoredPhoto:
    """Check and write a PDF under `root`, as photos are (a document has no width or height)."""
    content_type, extension = inspect_document(data, max_bytes=max_bytes)
    return _write(root, data, content_type, extension, 0, 0)


def _write(root: Path, data: bytes, content_type: str, extension: str, width: int, height: int) -> StoredPhoto:
    digest = hashlib.sha256(data).hexdigest()
    relative = f"{digest[:2]}/{digest}.{extension}"
    target = root / relative
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_suffix(f".{os.getpid()}.tmp")
        try:
            temporary.write_bytes(data)
            os.replace(temporary, target)
        except OSError:  # a full disk: no half file left behind
            temporary.unlink(missing_ok=True)
            raise
    return StoredPhoto(digest, relative, content_type, len(data), width, height)


def delete_file(root: Path, relative: str) -> None:
    (root / relative).unlink(missing_ok=True)

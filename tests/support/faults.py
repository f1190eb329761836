"""Faults of the machine a test can cause on purpose."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def unwritable(folder: Path) -> Iterator[None]:
    """The folder cannot take a file: a plain file stands where it should be (the tests may run
    as root, whom no permission bit stops), put back as it was afterwards."""
    aside = folder.with_name(folder.name + ".aside")
    if folder.exists():
        folder.rename(aside)
    folder.write_text("not a folder")
    try:
        yield
    finally:
        folder.unlink()
        if aside.exists():
            aside.rename(folder)

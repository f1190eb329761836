"""The server's own secret, which signs what it hands out: photo addresses in the console and
web chat sessions. Made once, kept beside the database, owner-only.

Several `serve` processes on one data folder may start at the same moment: the key is written
to a file of its own and linked into place, which only one of them can do, so all of them read
the same complete key.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

KEY_FILE = "console.key"  # the name it has always had: an existing office keeps its key


def load_server_key(data_dir: Path) -> bytes:
    path = data_dir / KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        draft = data_dir / f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        with os.fdopen(os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as fh:
            fh.write(secrets.token_bytes(32))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass  # another process was first: its key is the one
        finally:
            draft.unlink()
    return path.read_bytes()

"""The server's key, made on first start: processes starting together on one data folder must
all end up with the same complete key (web chat sessions and photo links signed by one process
are checked by the others)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bot.server_key import KEY_FILE, load_server_key

ROOT = Path(__file__).resolve().parents[2]


def test_processes_starting_together_agree_on_one_key(tmp_path: Path) -> None:
    code = "import sys; from pathlib import Path; from bot.server_key import load_server_key; sys.stdout.write(load_server_key(Path(sys.argv[1])).hex())"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    processes = [
        subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, env=env, stdout=subprocess.PIPE)
        for _ in range(6)
    ]
    keys = {p.communicate(timeout=60)[0].decode() for p in processes}
    assert len(keys) == 1 and len(next(iter(keys))) == 64
    assert load_server_key(tmp_path).hex() in keys
    assert (tmp_path / KEY_FILE).stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [KEY_FILE], "no draft left behind"

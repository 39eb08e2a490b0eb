"""The data directory and the files that hold secrets are for the hub's user alone.

The database holds password hashes and every job's data; the signing key mints job tokens.
They are created private whatever the umask, and a directory or file found readable by
others (an older hub made them 0755/0644) is tightened, with a log line, rather than refused.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("hub")

_OTHERS = stat.S_IRWXG | stat.S_IRWXO


def private_dir(path: Path) -> None:
    """`path` as a directory only its owner can enter (0700): created, or tightened."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    _tighten(path)


def private_file(path: Path, *, create: bool = False) -> None:
    """`path` readable by its owner only (0600): tightened if it exists, or created empty
    when `create` (SQLite gives a new database's -wal and -shm files its mode)."""
    if create:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    _tighten(path)


def _tighten(path: Path) -> None:
    try:
        current = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if not current & _OTHERS:
        return
    wanted = current & ~_OTHERS
    try:
        path.chmod(wanted)
    except OSError as exc:
        log.warning(
            "%s is open to other users (mode %o) and could not be tightened: %s",
            path,
            current,
            exc,
        )
        return
    log.warning(
        "tightened %s from mode %o to %o: it was open to other users", path, current, wanted
    )

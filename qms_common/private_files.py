"""Files only their owner may read: the databases (tickets, sessions, password hashes, device
token hashes), secret keys and device tokens. Every role creates them through here.

Directories made here are 0700, files 0600, whatever the process umask. SQLite creates its
``-wal`` and ``-shm`` files with the permissions of the database file, so a database created
0600 keeps its companions 0600 too; an older database found more open is tightened.
"""
from __future__ import annotations

import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: str | Path) -> Path:
    """Create ``path`` (and missing parents) owner-only; an existing directory is left as it is
    (systemd's StateDirectoryMode, or an operator, may have chosen its mode)."""
    path = Path(path)
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        d.mkdir(mode=DIR_MODE, exist_ok=True)
        os.chmod(d, DIR_MODE)  # mkdir's mode is filtered by the umask; never more open than this
    return path


def private_sqlite(path: str | Path) -> Path:
    """Make sure the database file (and any -wal/-shm beside it) exists owner-only before
    SQLite opens it."""
    path = Path(path)
    private_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    os.close(fd)
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        if p.exists() and p.stat().st_mode & 0o077:
            os.chmod(p, FILE_MODE)
    return path


def write_private(path: str | Path, text: str, *, exclusive: bool = False) -> Path:
    """Write ``text`` to a file only its owner can read (an existing file is tightened first)."""
    path = Path(path)
    private_dir(path.parent)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags, FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        os.fchmod(f.fileno(), FILE_MODE)
        f.write(text)
    return path

"""Files that hold a secret: 0600, in a folder of mode 0700, written atomically.

Passwords, signing keys and the logs that print them are readable by their owner only,
whatever the umask; `private_dir` also tightens a folder that already exists.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path) -> Path:
    """`path` as a folder only its owner may enter (created if missing, tightened if not)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    path.chmod(DIR_MODE)
    return path


def write_private(path: Path, text: str) -> Path:
    """Write `text` to `path` (0600, in a 0700 folder) through a temporary name, then rename."""
    path = Path(path)
    private_dir(path.parent)
    temporary = path.with_name(f".{path.name}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(descriptor, "w") as out:
        out.write(text)
    temporary.chmod(FILE_MODE)
    temporary.replace(path)
    return path


def secret(path: Path) -> str:
    """A per-installation secret kept in `path`: generated once, read after."""
    path = Path(path)
    if not path.exists():
        write_private(path, secrets.token_urlsafe(32))
    path.chmod(FILE_MODE)
    private_dir(path.parent)
    return path.read_text().strip()


def open_private_log(path: Path):
    """`path` opened for writing as a 0600 file in a 0700 folder (logs that print secrets)."""
    path = Path(path)
    private_dir(path.parent)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    os.chmod(path, FILE_MODE)
    return os.fdopen(descriptor, "w")

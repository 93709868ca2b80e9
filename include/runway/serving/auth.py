"""The service's bearer key: one per installation, generated once (as Airflow's secrets are)
into a 0600 file under the installation's home, never committed; or given by the cluster."""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path


def installation_key(path: Path) -> str:
    """The key kept at `path`, generated on first use (the folder 0700, the file 0600)."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        scratch = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        scratch.touch(mode=0o600)
        scratch.write_text(secrets.token_urlsafe(32))
        try:
            os.link(scratch, path)  # fails if `path` exists: the first writer wins
        except FileExistsError:  # another process made it first: theirs is the key
            pass
        finally:
            scratch.unlink(missing_ok=True)
    return path.read_text().strip()


def authorized(header: str | None, key: str) -> bool:
    """Whether an `Authorization` header carries `Bearer <key>` (constant-time compare)."""
    if not header or not key:
        return False
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), key.encode())

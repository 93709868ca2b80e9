"""Files holding a secret are 0600 in a 0700 folder, whatever the umask."""

from __future__ import annotations

import os
import stat

from runway.private_files import open_private_log, private_dir, secret, write_private


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_secrets_are_owner_only_under_a_permissive_umask(tmp_path):
    old = os.umask(0o000)
    try:
        value = secret(tmp_path / "home" / "secrets" / "jwt")
        written = write_private(tmp_path / "home" / "passwords.json", '{"admin": "x"}')
        with open_private_log(tmp_path / "home" / "logs" / "api-server.log") as log:
            log.write("Password for user 'admin': x\n")
    finally:
        os.umask(old)
    assert len(value) >= 32 and secret(tmp_path / "home" / "secrets" / "jwt") == value
    for path in (
        tmp_path / "home" / "secrets" / "jwt",
        written,
        tmp_path / "home" / "logs" / "api-server.log",
    ):
        assert _mode(path) == 0o600, path
        assert _mode(path.parent) == 0o700, path.parent
    assert not list((tmp_path / "home").glob(".*.tmp"))


def test_an_existing_open_folder_and_secret_are_tightened(tmp_path):
    folder = tmp_path / "secrets"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    (folder / "key").write_text("kept")
    (folder / "key").chmod(0o644)
    assert secret(folder / "key") == "kept"
    assert _mode(folder / "key") == 0o600 and _mode(folder) == 0o700
    assert _mode(private_dir(tmp_path / "other")) == 0o700

"""The installation's bearer key: generated once, 0600, and checked in constant time."""

from __future__ import annotations

import stat

from runway.serving.auth import authorized, installation_key


def test_the_key_is_generated_once_private(tmp_path):
    path = tmp_path / "serving" / "api_key"
    key = installation_key(path)
    assert len(key) >= 40 and installation_key(path) == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert installation_key(tmp_path / "other") != key


def test_only_the_bearer_key_is_authorized():
    assert authorized("Bearer k3y", "k3y") and authorized("bearer k3y", "k3y")
    for header in (None, "", "k3y", "Basic k3y", "Bearer k3", "Bearer "):
        assert not authorized(header, "k3y")
    assert not authorized("Bearer ", "")

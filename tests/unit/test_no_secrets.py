"""No secret lives in the repository: credentials come from the environment or are generated per
installation under the git-ignored `.runway/`."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PATTERNS = {
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "AWS access key": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "Slack token": re.compile(r"\bxox[abpr]-[A-Za-z0-9-]{10,}\b"),
    "password in a URL": re.compile(
        r"\b[a-z][a-z0-9+.-]*://[A-Za-z0-9._%-]+:(?!\$\{)[A-Za-z0-9._%~!*-]{3,}@"
    ),
    "assigned secret": re.compile(
        r"(?i)\b(password|passwd|secret|fernet_key|jwt_secret|api_key)\s*[:=]\s*['\"][^'\"\s$]{8,}['\"]"
    ),
}
ALLOWED = {".env.example"}  # placeholders (change-me), checked below


def tracked_files() -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    return [REPO / line for line in out.splitlines() if line and (REPO / line).is_file()]


def test_no_secret_in_tracked_files():
    findings = []
    for path in tracked_files():
        if path.name in ALLOWED or path.suffix in {".png", ".parquet", ".zip"}:
            continue
        text = path.read_text(errors="ignore")
        for name, pattern in PATTERNS.items():
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                findings.append(f"{path.relative_to(REPO)}:{line}: {name}")
    assert not findings, "secrets in the repository:\n" + "\n".join(findings)


def test_env_example_holds_only_placeholders_and_env_is_ignored():
    example = (REPO / ".env.example").read_text()
    values = [
        line.split("=", 1)[1].strip()
        for line in example.splitlines()
        if "=" in line and not line.startswith("#")
    ]
    secret_names = [
        line.split("=", 1)[0]
        for line in example.splitlines()
        if re.search(r"PASSWORD|SECRET|KEY", line.split("=", 1)[0])
    ]
    assert secret_names, "expected the secret variables to be listed"
    for line in example.splitlines():
        name, _, value = line.partition("=")
        if name in secret_names:
            assert value.strip() in ("change-me", ""), (
                f"{name} must be a placeholder in .env.example"
            )
    ignored = subprocess.run(
        ["git", "check-ignore", ".env", ".runway/airflow/passwords.json"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert ignored.stdout.split() == [".env", ".runway/airflow/passwords.json"]
    assert values  # the file is not empty

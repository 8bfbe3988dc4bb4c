"""No secrets in the repository, and secrets reach the service only from its environment.

- Every file git tracks (or would track: untracked, not ignored) is scanned for private keys,
  cloud and chat tokens, JWTs, Sentry DSNs with keys, and passwords or keys assigned
  real-looking values. The few values committed on purpose (public dev/demo credentials, test
  fixtures) are listed in ``ALLOWED`` with the reason each is harmless; an allowlist entry that
  no longer matches anything fails too, so the list cannot rot.
- Secret settings can come from files (``<NAME>_FILE``, a mounted Kubernetes or Docker
  secret): the secret key is tested in tests/test_settings.py; here the database and Redis
  URLs (which carry passwords) and the Sentry DSN (which carries a key).

That no secret ends up in logs, spans or Sentry events is tested end to end in
tests/e2e/test_traces_logs_errors.py (``test_secrets_never_reach_the_logs_spans_or_sentry``).
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.telemetry.errors import sentry_dsn
from tests.support.python import run_python

pytestmark = pytest.mark.database_free

REPO_ROOT = Path(__file__).resolve().parents[2]
MAX_FILE_BYTES = 2_000_000

# Always a finding, whatever the value looks like.
STRICT_RULES = {
    "private-key": re.compile(r"-----BEGIN[A-Z ]*PRIVATE KEY( BLOCK)?-----"),
    "aws-access-key-id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "aws-secret-access-key": re.compile(r"(?i)aws_secret_access_key\W{1,4}[A-Za-z0-9/+=]{40}\b"),
    "jwt": re.compile(r"\beyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]{8,}"),
    "slack-token": re.compile(r"\bxox[abposr]-[0-9A-Za-z-]{10,}"),
    "slack-webhook": re.compile(
        r"hooks\.slack\.com/services/T[0-9A-Z]{6,}/B[0-9A-Z]{6,}/[0-9A-Za-z]{16,}"
    ),
    "github-token": re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})"),
    "sentry-dsn-with-key": re.compile(
        r"https?://[0-9a-f]{32}(?::[0-9a-f]{32})?@[\w.-]+(?::\d+)?/\d+"
    ),
}
# A finding only when the captured value looks real (see ``looks_real``).
VALUE_RULES = {
    "credentials-in-url": re.compile(
        r"\b[a-z][a-z0-9+.-]*://[^/\s:@'\"{}<>$]+:([^@\s/'\"{}<>$]{6,})@"
    ),
    "secret-assignment": re.compile(
        r"(?i)\b[\w-]*(?:password|passwd|secret|api[_-]?key|token)[\w-]*[\"']?\s*[:=]\s*"
        r"[\"']([^\"'\s{}$<>%()]{8,})[\"']"
    ),
    "secret-in-yaml": re.compile(
        r"(?im)^[ \t]*[\w-]*(?:password|passwd|secret|api[_-]?key|token)[\w-]*:[ \t]+"
        r"([^\s#\"'{}$<>(),\[\]]{8,})[ \t]*(?:#.*)?$"
    ),
    "secret-in-env-file": re.compile(
        r"(?m)^[ \t]*(?:- |export )?[A-Z0-9_]*(?:PASSWORD|SECRET|API_KEY|TOKEN|DSN)[A-Z0-9_]*"
        r"[ \t]*[=:][ \t]*([^\s#\"'${}<>(),]{8,})[ \t]*$"
    ),
}


@dataclass(frozen=True)
class Allowed:
    """A committed value that looks like a secret but is not one, and why."""

    value: str
    paths: tuple[str, ...]
    reason: str


ALLOWED = [
    Allowed(
        "demo-admin-password-2024",
        (".env.example", "README.md", "Makefile", "docker-compose.yml", "loadtests/*", "k8s/*"),
        "public demo password of the local stack's staff user (`make run`, compose), printed "
        "by `make run` and documented in README.md; never a production account",
    ),
    Allowed(
        "demo-password-2024",
        ("tests/image/*",),
        "public password of the demo user that `make run` and compose's migrate create "
        "(ensure_demo_user's default, printed by `make run`); the compose test logs in with it",
    ),
    Allowed(
        "dev-only-public-secret-key-do-not-use-outside-todo-dev-0123456789abcdef",
        ("k8s/overlays/dev/secrets.dev.env",),
        "the dev overlay's Django key, public on purpose so `kubectl apply -k` works on a "
        "throwaway cluster; production's Secret is created by hand",
    ),
    Allowed(
        "tests-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        ("tests/environment.py",),
        "Django key of the in-process test run; signs nothing outside it",
    ),
    Allowed(
        "incident-admin-password-2024",
        ("tests/loadtests/*",),
        "staff user created in a temporary database by the Locust incident test",
    ),
    Allowed(
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLXZhbHVl",
        ("tests/telemetry/test_logging.py", "tests/security/test_secrets.py"),
        "hand-made token for the log-redaction test: payload {'sub': '1'}, signature the text "
        "'signature-value' (and this allowlist naming it)",
    ),
]


@dataclass(frozen=True)
class Finding:
    """A secret-looking match: where, which rule, what."""

    path: str
    line: int
    rule: str
    value: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule}: {self.value[:12]}..."


def looks_real(value: str) -> bool:
    """Eight or more characters from at least three of lower, upper, digits, symbols.

    Placeholders and test fixtures (``changeme``, ``a-long-secret-pass``, ``whatever``) are
    lower-case words; generated secrets and real passwords mix classes. File paths (a
    ``*_FILE`` setting) are not values.
    """
    classes = [
        any(c.islower() for c in value),
        any(c.isupper() for c in value),
        any(c.isdigit() for c in value),
        any(not c.isalnum() for c in value),
    ]
    is_path = value.startswith(("/", "./"))
    return len(value) >= 8 and sum(classes) >= 3 and not is_path


def scan_text(path: str, text: str) -> Iterator[Finding]:
    """Every secret-looking match in ``text``."""
    for rule, pattern in STRICT_RULES.items():
        for match in pattern.finditer(text):
            yield Finding(path, text.count("\n", 0, match.start()) + 1, rule, match.group(0))
    for rule, pattern in VALUE_RULES.items():
        for match in pattern.finditer(text):
            if looks_real(match.group(1)):
                line = text.count("\n", 0, match.start(1)) + 1
                yield Finding(path, line, rule, match.group(1))


def allowed_by(finding: Finding) -> Allowed | None:
    """The allowlist entry covering ``finding``, if any."""
    for entry in ALLOWED:
        if finding.value == entry.value and any(
            fnmatch.fnmatch(finding.path, pattern) for pattern in entry.paths
        ):
            return entry
    return None


def repository_files() -> list[str]:
    """Tracked files plus untracked ones git does not ignore (about to be committed)."""
    if shutil.which("git") is None or not (REPO_ROOT / ".git").exists():
        pytest.skip("not a git checkout: nothing to scan (run from a clone with git installed)")
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],  # noqa: S607
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout.decode()
    return sorted({name for name in listed.split("\0") if name})


def repository_findings() -> list[Finding]:
    findings: list[Finding] = []
    for name in repository_files():
        path = REPO_ROOT / name
        if not path.is_file() or path.stat().st_size > MAX_FILE_BYTES:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:  # binary
            continue
        findings.extend(scan_text(name, text))
    return findings


@pytest.fixture(scope="module")
def findings() -> list[Finding]:
    return repository_findings()


# ------------------------------------------------------------------ the repository


def test_the_repository_holds_no_secrets_beyond_the_allowlist(findings: list[Finding]) -> None:
    unexplained = [str(finding) for finding in findings if allowed_by(finding) is None]

    assert unexplained == [], "possible secrets (rotate them, or allowlist with a reason):\n" + (
        "\n".join(unexplained)
    )


def test_every_allowlist_entry_is_still_needed(findings: list[Finding]) -> None:
    used = {id(entry) for finding in findings if (entry := allowed_by(finding)) is not None}

    assert [entry.value for entry in ALLOWED if id(entry) not in used] == []


def _fake(*parts: str) -> str:
    """Join ``parts``: the samples below must not appear whole in this file."""
    return "".join(parts)


@pytest.mark.parametrize(
    ("rule", "text"),
    [
        ("private-key", _fake("-----BEGIN RSA ", "PRIVATE KEY-----\nMIIE...")),
        ("private-key", _fake("-----BEGIN OPENSSH ", "PRIVATE KEY-----")),
        ("aws-access-key-id", _fake("key = AKIA", "Z7QWERTYUIOP4XYZ")),
        ("aws-secret-access-key", _fake("aws_secret_access_key = ", "a1B2" * 10)),
        (
            "jwt",
            _fake("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9", ".eyJ1c2VyX2lkIjoiNyJ9.", "x" * 43),
        ),
        ("slack-token", _fake("xoxb", "-1234567890-abcdefghij")),
        (
            "slack-webhook",
            _fake("https://hooks.slack.com/services/", "T0ABCDEFG/B0ABCDEFG/", "a" * 24),
        ),
        ("github-token", _fake("ghp", "_", "A1b2" * 9)),
        (
            "sentry-dsn-with-key",
            _fake("SENTRY_DSN=https://", "0123456789abcdef" * 2, "@o1.ingest.sentry.io/42"),
        ),
        ("credentials-in-url", _fake("postgres://todos:", "S3cr3t-Passw0rd", "@db:5432/todos")),
        ("secret-assignment", _fake('{"password": "', "Tr0ub4dor&3", '"}')),
        ("secret-assignment", _fake("api_key = '", "k9X2mQ7vL4pR8sT1", "'")),
        ("secret-in-env-file", _fake("POSTGRES_PASSWORD=", "xK9mQ2vL7pR4", "\n")),
        ("secret-in-env-file", _fake("      - GRAFANA_ADMIN_PASSWORD=", "Zq8-Lm3_Wx7", "\n")),
        ("secret-in-yaml", _fake("  password: ", "Zq8-Lm3_Wx7", "  # prod\n")),
    ],
)
def test_the_scanner_finds_each_kind_of_secret(rule: str, text: str) -> None:
    """The rules work (on samples made at run time), and the allowlist does not hide them."""
    found = list(scan_text("some/file", text))

    assert rule in {finding.rule for finding in found}, found
    assert all(allowed_by(finding) is None for finding in found)


@pytest.mark.parametrize(
    "text",
    [
        "DJANGO_SECRET_KEY=",
        "POSTGRES_PASSWORD=${POSTGRES_PASSWORD}",
        'password = os.environ["DB_PASSWORD"]',
        '{"username": "carol", "password": "a-long-secret-pass"}',
        "DATABASE_URL=postgres://u:p@db.example:5432/todos",
        "TOKEN_URL = '/api/auth/token/'",
        "SENTRY_DSN=https://<key>@<org>.ingest.sentry.io/<project>",
        "token = self.account.token()",
        "DJANGO_SECRET_KEY=secrets.token_urlsafe(50),",
        "DJANGO_SECRET_KEY_FILE=/var/run/secrets/todo-api/DJANGO_SECRET_KEY",
    ],
)
def test_placeholders_and_references_are_not_findings(text: str) -> None:
    assert list(scan_text("some/file", text)) == []


def test_an_allowed_value_is_a_finding_in_any_other_file() -> None:
    text = _fake(
        "DJANGO_SECRET_KEY=",
        "dev-only-public-secret-key-do-not-use-outside-todo-dev-",
        "0123456789abcdef",
    )

    found = list(scan_text("k8s/overlays/production/secrets.env", text))

    assert found
    assert all(allowed_by(finding) is None for finding in found)


# ------------------------------------------------------------------ secrets from files

PRINT_URLS = """
import json
import django
from django.conf import settings

django.setup()
print(json.dumps({
    "database": settings.DATABASES["default"],
    "cache": settings.CACHES["default"]["LOCATION"],
}, default=str))
"""


def test_database_and_redis_urls_can_come_from_mounted_files(tmp_path: Path) -> None:
    password = secrets.token_urlsafe(16)
    (tmp_path / "database_url").write_text(f"postgres://todos:{password}@db.example:5432/todos\n")
    (tmp_path / "redis_url").write_text(f"redis://:{password}@cache.example:6379/0\n")
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DJANGO_", "DATABASE_", "REDIS_", "THROTTLE_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="app.settings",
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="example.com",
        DATABASE_URL_FILE=str(tmp_path / "database_url"),
        REDIS_URL_FILE=str(tmp_path / "redis_url"),
    )

    result = run_python(PRINT_URLS, env)

    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert (loaded["database"]["HOST"], loaded["database"]["PASSWORD"]) == ("db.example", password)
    assert loaded["cache"] == f"redis://:{password}@cache.example:6379/0"


def test_the_sentry_dsn_can_come_from_a_mounted_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dsn = f"https://{secrets.token_hex(16)}@o1.ingest.example/42"
    (tmp_path / "dsn").write_text(dsn + "\n")
    monkeypatch.delenv("SENTRY_DSN", raising=False)
    monkeypatch.setenv("SENTRY_DSN_FILE", str(tmp_path / "dsn"))

    assert sentry_dsn() == dsn


def test_no_sentry_dsn_means_sentry_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SENTRY_DSN", raising=False)
    monkeypatch.delenv("SENTRY_DSN_FILE", raising=False)

    assert sentry_dsn() == ""

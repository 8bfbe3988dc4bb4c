"""``app.envconfig``: one rule per type for every variable the service reads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.envconfig import BOOLEAN_WORDS, Env, EnvError

pytestmark = pytest.mark.database_free


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        *[(word, True) for word in ("true", "TRUE", "True", " true ", "1", "yes", "YES", "on")],
        *[(word, False) for word in ("false", "FALSE", " False", "0", "no", "No", "off", "OFF ")],
    ],
)
def test_every_boolean_spelling(raw: str, expected: bool) -> None:
    assert Env({"FLAG": raw}).boolean("FLAG", not expected) is expected


@pytest.mark.parametrize("raw", ["", "   "])
def test_unset_or_blank_means_the_default(raw: str) -> None:
    env = Env({"FLAG": raw, "COUNT": raw, "RATE": raw, "WAIT": raw, "NAME": raw})

    assert env.boolean("FLAG", True) is True
    assert env.boolean("MISSING", False) is False
    assert env.integer("COUNT", 7) == 7
    assert env.number("RATE", 0.5) == 0.5
    assert env.duration("WAIT", 2.0) == 2.0
    assert env.string("NAME", "fallback") == "fallback"
    assert env.strings("NAME", ["a"]) == ["a"]


@pytest.mark.parametrize(
    ("method", "raw", "message"),
    [
        ("boolean", "maybe", f"X: expected {BOOLEAN_WORDS}, got 'maybe'"),
        ("boolean", "2", f"X: expected {BOOLEAN_WORDS}, got '2'"),
        ("boolean", "y", f"X: expected {BOOLEAN_WORDS}, got 'y'"),
        ("integer", "abc", "X: expected an integer, got 'abc'"),
        ("integer", "1.5", "X: expected an integer, got '1.5'"),
        ("number", "fast", "X: expected a number, got 'fast'"),
        ("number", "nan", "X: expected a finite number, got 'nan'"),
        ("duration", "5m", "X: expected a duration in seconds (>= 0), got '5m'"),
        ("duration", "-1", "X: expected a duration in seconds (>= 0), got '-1'"),
        ("duration", "inf", "X: expected a duration in seconds (>= 0), got 'inf'"),
    ],
)
def test_a_bad_value_is_an_error_naming_the_variable_and_the_value(
    method: str, raw: str, message: str
) -> None:
    read = getattr(Env({"X": raw}), method)

    with pytest.raises(EnvError) as error:
        read("X", 1)

    assert str(error.value) == message


@pytest.mark.parametrize(
    ("method", "raw", "expected"),
    [
        ("integer", " 42 ", 42),
        ("integer", "-3", -3),
        ("number", "0.25", 0.25),
        ("duration", "0", 0.0),
        ("duration", "1.5", 1.5),
        ("string", "  kept as given ", "  kept as given "),
        ("strings", " a, b ,,c ", ["a", "b", "c"]),
    ],
)
def test_good_values(method: str, raw: str, expected: object) -> None:
    assert getattr(Env({"X": raw}), method)("X", None if method == "string" else 0) == expected


def test_bounds_are_checked() -> None:
    env = Env({"RATE": "1.5", "COUNT": "0"})

    with pytest.raises(EnvError, match=r"^RATE: expected a number between 0 and 1, got '1.5'$"):
        env.number("RATE", 0.0, low=0, high=1)
    with pytest.raises(EnvError, match=r"^COUNT: expected an integer >= 1, got '0'$"):
        env.integer("COUNT", 1, minimum=1)


def test_a_required_variable_that_is_missing_is_named() -> None:
    with pytest.raises(EnvError, match=r"^Set the SECRET environment variable$"):
        Env({}).string("SECRET")


def test_a_file_variable_wins_without_its_trailing_newline(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("from-file\n")
    flag = tmp_path / "flag"
    flag.write_text("off\n")
    env = Env({"SECRET": "inline", "SECRET_FILE": str(secret), "FLAG_FILE": str(flag)})

    assert env.string("SECRET") == "from-file"
    assert env.boolean("FLAG", True) is False


def test_an_unreadable_file_variable_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "missing"

    with pytest.raises(EnvError, match=r"^SECRET_FILE: cannot read"):
        Env({"SECRET_FILE": str(missing)}).string("SECRET")


def test_choices_are_words_of_the_allowed_set_in_any_case() -> None:
    allowed = ("otlp", "console", "none")

    assert Env({"X": " OTLP, console ,"}).choices("X", allowed) == ["otlp", "console"]
    assert Env({}).choices("X", allowed) == []
    with pytest.raises(
        EnvError, match=re.escape("X: expected otlp/console/none, got 'otlp,zipkin'")
    ):
        Env({"X": "otlp,zipkin"}).choices("X", allowed)


def test_first_takes_the_first_set_name() -> None:
    env = Env({"GENERIC": "g", "SPECIFIC": " "})

    assert env.first("SPECIFIC", "GENERIC") == "g"
    assert env.first("NONE", "OTHER") is None


def test_errors_can_be_raised_as_another_type() -> None:
    with pytest.raises(SystemExit, match=r"^PORT: expected an integer, got 'http'$"):
        Env({"PORT": "http"}, error=SystemExit).integer("PORT", 8000)


REPO_ROOT = Path(__file__).resolve().parent.parent
# Reads that must stay outside app.envconfig: prometheus_client's own variable
# (PROMETHEUS_MULTIPROC_DIR), read as it reads it (no *_FILE form), by the web's exemplar
# writer, the lean multiprocess values (which open its files) and the Celery worker's metrics
# set-up.
ALLOWED_DIRECT_READS = {
    "app/telemetry/prometheus/exemplars.py",
    "app/telemetry/prometheus/values.py",
    "app/jobs/worker.py",
}
# os.environ.get(...), os.getenv(...), `in os.environ` and os.environ[...] not assigned to.
ENVIRONMENT_READ = re.compile(
    r"os\.environ\.get\(|os\.getenv\(|\bin os\.environ\b|os\.environ\[[^\]]+\](?!\s*=[^=])"
)


def test_nothing_else_reads_the_environment_directly() -> None:
    """``app.envconfig`` is the one reader: no ``os.environ.get``/``os.getenv`` elsewhere."""
    sources = [*sorted((REPO_ROOT / "app").rglob("*.py")), REPO_ROOT / "gunicorn.conf.py"]
    readers = [
        str(path.relative_to(REPO_ROOT))
        for path in sources
        if path.name != "envconfig.py"
        and str(path.relative_to(REPO_ROOT)) not in ALLOWED_DIRECT_READS
        and ENVIRONMENT_READ.search(path.read_text(encoding="utf-8"))
    ]
    assert readers == []

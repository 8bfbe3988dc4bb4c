"""Coverage's honesty rules: every exclusion pragma carries its reason on the line, and the
per-package floors of ``make test`` (tests/support/coverage_floors.py) count as coverage does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support import coverage_floors

pytestmark = pytest.mark.database_free

REPO = Path(__file__).resolve().parent.parent
# coverage.py's default exclusion (and its partial-branch one): the marker, then the reason.
PRAGMA = re.compile(r"#\s*pragma[:\s]?\s*no\s*(?:cover|branch)\b(?P<reason>.*)", re.IGNORECASE)
# A reason is words, not punctuation: at least three of them (e.g. ``: the loop always
# returns``, ``# graphql-core has no other selection kind``).
WORD = re.compile(r"[A-Za-z][A-Za-z'-]+")


SOURCE_FOLDERS = ("app", "tests", "loadtests", "k8s", "observability", "images")


def python_files() -> list[Path]:
    """The repository's own Python files (not .venv's)."""
    return list(REPO.glob("*.py")) + [
        path for folder in SOURCE_FOLDERS for path in (REPO / folder).rglob("*.py")
    ]


def pragmas_without_reason(text: str) -> list[int]:
    """Line numbers of exclusion pragmas in ``text`` with no reason after them."""
    return [
        number
        for number, line in enumerate(text.splitlines(), start=1)
        if (match := PRAGMA.search(line)) and len(WORD.findall(match["reason"])) < 3
    ]


def test_it_finds_a_pragma_without_a_reason() -> None:
    marker = "pragma" + ": no cover"
    text = f"x = 1  # {marker}\ny = 2  # {marker}: only on Windows, never here\n"

    assert pragmas_without_reason(text) == [1]


def test_every_coverage_exclusion_says_why_on_its_line() -> None:
    missing = [
        f"{path.relative_to(REPO)}:{number}"
        for path in python_files()
        for number in pragmas_without_reason(path.read_text(encoding="utf-8"))
    ]

    assert not missing, f"exclusion pragmas without a reason on the line: {missing}"


def _report(**files: tuple[int, int, int, int]) -> dict[str, object]:
    """A JSON report with (covered lines, statements, covered branches, branches) per file."""
    return {
        "files": {
            path.replace("__", "/"): {
                "summary": {
                    "covered_lines": covered,
                    "num_statements": statements,
                    "covered_branches": taken,
                    "num_branches": branches,
                }
            }
            for path, (covered, statements, taken, branches) in files.items()
        }
    }


def test_a_package_counts_statements_and_branches_of_its_files_only() -> None:
    report = _report(
        app__todos__views_py=(90, 100, 5, 10),
        app__todos__models_py=(10, 10, 0, 0),
        app__todos_extra__x_py=(0, 50, 0, 0),  # another package sharing the prefix
    )

    measured = coverage_floors.package_coverage(report, "app/todos")

    assert (measured.files, measured.covered, measured.total) == (2, 105, 120)
    assert measured.percent == pytest.approx(87.5)


def test_a_package_under_its_floor_fails_and_one_without_files_too() -> None:
    report = _report(app__api__errors_py=(95, 100, 0, 0), app__todos__views_py=(94, 100, 0, 0))

    lines = coverage_floors.check(
        report, [("app/api", 95.0), ("app/todos", 95.0), ("app/nothing", 95.0)]
    )

    assert [line.split()[0] for line in lines] == ["ok", "FAIL", "FAIL"]
    assert "94.0% (floor 95%" in lines[1]


def test_the_command_exits_non_zero_under_a_floor(tmp_path: Path) -> None:
    path = tmp_path / "coverage.json"
    path.write_text(
        '{"files": {"app/api/x.py": {"summary": {"covered_lines": 1, "num_statements": 2}}}}'
    )

    assert coverage_floors.main([str(path), "app/api=50"]) == 0
    assert coverage_floors.main([str(path), "app/api=95"]) == 1

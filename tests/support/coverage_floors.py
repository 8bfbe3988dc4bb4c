"""``python -m tests.support.coverage_floors REPORT.json PACKAGE=PERCENT...``: per-package floors.

coverage.py has one floor, ``[tool.coverage.report] fail_under`` (pyproject.toml), for the whole
measured code. ``make test`` adds one per domain package (``COVERAGE_FLOORS`` in the Makefile)
with this check of coverage's JSON report: a package's figure is coverage's own (statements
and branches, covered over total, summed over the package's files), a line is printed per
package, and the exit status is 1 when any is under its floor or has no measured file.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

USAGE = "usage: python -m tests.support.coverage_floors REPORT.json PACKAGE=PERCENT..."


@dataclass(frozen=True)
class PackageCoverage:
    """One package's sums over its files, as coverage.py counts them with branch coverage."""

    package: str
    files: int
    covered: int  # statements run plus branches taken
    total: int  # statements plus branches

    @property
    def percent(self) -> float:
        return 100.0 * self.covered / self.total if self.total else 100.0


def package_coverage(report: Mapping[str, Any], package: str) -> PackageCoverage:
    """Sum the JSON report's per-file summaries over the files under ``package`` (a folder
    relative to the repository root, e.g. ``app/todos``)."""
    prefix = package.rstrip("/") + "/"
    files = covered = total = 0
    for path, entry in report["files"].items():
        if not Path(path).as_posix().startswith(prefix):
            continue
        summary = entry["summary"]
        files += 1
        covered += summary["covered_lines"] + summary.get("covered_branches", 0)
        total += summary["num_statements"] + summary.get("num_branches", 0)
    return PackageCoverage(package=package, files=files, covered=covered, total=total)


def parse_floor(argument: str) -> tuple[str, float]:
    """``app/todos=95`` as (``app/todos``, 95.0)."""
    package, separator, percent = argument.partition("=")
    if not separator or not package:
        raise ValueError(f"expected PACKAGE=PERCENT, got {argument!r}")
    return package, float(percent)


def check(report: Mapping[str, Any], floors: Sequence[tuple[str, float]]) -> list[str]:
    """One line per floor, each starting with ``ok`` or ``FAIL``."""
    lines = []
    for package, floor in floors:
        measured = package_coverage(report, package)
        if not measured.files:
            lines.append(f"FAIL {package}: no measured file (is the path right?)")
            continue
        verdict = "ok  " if measured.percent >= floor else "FAIL"
        lines.append(
            f"{verdict} {package}: {measured.percent:.1f}% (floor {floor:g}%, "
            f"{measured.covered}/{measured.total} statements and branches in "
            f"{measured.files} files)"
        )
    return lines


def main(argv: Sequence[str]) -> int:
    if len(argv) < 2:
        print(USAGE, file=sys.stderr)  # noqa: T201
        return 2
    report = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    lines = check(report, [parse_floor(argument) for argument in argv[1:]])
    print("per-package coverage floors:")  # noqa: T201
    for line in lines:
        print(f"  {line}")  # noqa: T201
    return 1 if any(line.startswith("FAIL") for line in lines) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

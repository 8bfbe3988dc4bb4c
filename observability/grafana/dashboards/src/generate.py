"""Write the dashboards' JSON next to this package, or check that the committed JSON is current.

Run from the repository root::

    .venv/bin/python -m observability.grafana.dashboards.src.generate          # write
    .venv/bin/python -m observability.grafana.dashboards.src.generate --check  # exit 1 if stale
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

from observability.slo import Slo, load_slo

from . import business, dependencies, graphql, jobs, overview, runtime, slo

OUTPUT_DIR = Path(__file__).resolve().parent.parent
COMMAND = ".venv/bin/python -m observability.grafana.dashboards.src.generate"
# Each builds its dashboard from the SLO (observability/slo.yaml, loaded once per run).
BUILDERS: tuple[Callable[[Slo], Dashboard], ...] = (
    overview.build,
    slo.build,
    dependencies.build,
    runtime.build,
    business.build,
    jobs.build,
    graphql.build,
)


def render(model: Dashboard) -> str:
    """The dashboard as deterministic, pretty-printed JSON (sorted keys, trailing newline)."""
    return json.dumps(model, cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def rendered(service_slo: Slo | None = None) -> dict[str, str]:
    """Every dashboard's JSON text keyed by file name (`<uid>.json`), built from `service_slo`
    (default: the SLO file, :func:`observability.slo.load_slo`)."""
    service_slo = load_slo() if service_slo is None else service_slo
    files: dict[str, str] = {}
    for build in BUILDERS:
        model = build(service_slo)
        files[f"{model.uid}.json"] = render(model)
    return files


def stale_files(directory: Path | None = None) -> list[str]:
    """Dashboard files (default: the committed ones) missing, different or not generated."""
    directory = directory or OUTPUT_DIR
    expected = rendered()
    stale = [
        name
        for name, text in expected.items()
        if not (directory / name).is_file() or (directory / name).read_text("utf-8") != text
    ]
    stale += [path.name for path in directory.glob("*.json") if path.name not in expected]
    return sorted(stale)


def write(directory: Path | None = None) -> list[str]:
    """Write every dashboard into `directory`, remove JSON no code generates; return the names."""
    directory = directory or OUTPUT_DIR
    expected = rendered()
    for path in directory.glob("*.json"):
        if path.name not in expected:
            path.unlink()
    for name, text in expected.items():
        (directory / name).write_text(text, "utf-8")
    return sorted(expected)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point: write the JSON, or with --check report stale files."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--check", action="store_true", help="exit 1 and name the stale files, write nothing"
    )
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        if stale:
            sys.stderr.write(f"Stale dashboards in {OUTPUT_DIR}: {', '.join(stale)}\n")
            sys.stderr.write(f"Regenerate them with: {COMMAND}\n")
            return 1
        sys.stdout.write(f"Dashboards are current ({len(BUILDERS)} files in {OUTPUT_DIR}).\n")
        return 0
    for name in write():
        sys.stdout.write(f"wrote {OUTPUT_DIR / name}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

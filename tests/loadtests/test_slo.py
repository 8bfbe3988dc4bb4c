"""observability/slo.yaml: consistent with the app's latency buckets, and loaded strictly."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from app.telemetry.prometheus.buckets import LATENCY_BUCKETS, SLO_LATENCY_THRESHOLD_SECONDS
from loadtests.slo import DEFAULT_SLO_FILE, SloError, load_slo, parse_slo, slo_path

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_the_slo_file_declares_the_service_objectives() -> None:
    slo = load_slo(REPO_ROOT / "observability" / "slo.yaml")

    assert slo.service == "todo-api"
    assert slo.window == "30d"
    assert slo.window_seconds == 30 * 86400
    assert slo.availability.objective == 0.999
    assert slo.availability.max_failure_ratio == 0.001
    assert slo.latency.objective == 0.99


def test_the_latency_threshold_is_the_apps_and_an_exact_bucket_boundary() -> None:
    threshold = load_slo().latency.threshold_seconds

    assert threshold == SLO_LATENCY_THRESHOLD_SECONDS
    assert threshold in LATENCY_BUCKETS


def test_the_file_opens_with_a_header_saying_why_it_exists_and_who_reads_it() -> None:
    header = DEFAULT_SLO_FILE.read_text().split("\nservice:")[0]

    assert header.startswith("# ")
    assert "load" in header
    assert "Prometheus" in header


def test_load_slo_file_overrides_the_default_path(tmp_path: Path) -> None:
    custom = tmp_path / "slo.yaml"
    custom.write_text(DEFAULT_SLO_FILE.read_text().replace("0.999", "0.99"))

    assert slo_path({"LOAD_SLO_FILE": str(custom)}) == custom
    assert slo_path({}) == DEFAULT_SLO_FILE
    assert load_slo(custom).availability.max_failure_ratio == 0.01


def valid() -> dict[str, object]:
    document: dict[str, object] = yaml.safe_load(DEFAULT_SLO_FILE.read_text())
    return document


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("service",), "", "service must be a non-empty string"),
        (("window",), "30 days", "window must be a duration"),
        (("objectives", "availability", "objective"), 1.0, "strictly between 0 and 1"),
        (("objectives", "availability", "objective"), "high", "must be a number"),
        (("objectives", "latency", "objective"), 0, "strictly between 0 and 1"),
        (("objectives", "latency", "threshold_seconds"), -0.3, "must be positive"),
        (("objectives", "latency"), None, "objectives.latency must be a mapping"),
    ],
)
def test_a_broken_slo_file_is_refused_naming_the_field(
    path: tuple[str, ...], value: object, message: str
) -> None:
    document = valid()
    target: dict[str, object] = document
    for key in path[:-1]:
        nested = target[key]
        assert isinstance(nested, dict)
        target = nested
    target[path[-1]] = value

    with pytest.raises(SloError, match=message):
        parse_slo(document, source=Path("slo.yaml"))


def test_a_missing_slo_file_is_an_slo_error(tmp_path: Path) -> None:
    with pytest.raises(SloError, match="cannot read the SLO file"):
        load_slo(tmp_path / "absent.yaml")

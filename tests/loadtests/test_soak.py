"""The soak driver's progress lines, read from Locust's own statistics history."""

from __future__ import annotations

from pathlib import Path

from loadtests.soak import progress, progress_line, tracing_environment

HEADER = (
    "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,"
    "99.9%,99.99%,100%,Total Request Count,Total Failure Count,Total Median Response Time,"
    "Total Average Response Time,Total Min Response Time,Total Max Response Time,"
    "Total Average Content Size\n"
)


def _history(tmp_path: Path, *rows: str) -> Path:
    prefix = tmp_path / "soak"
    Path(f"{prefix}_stats_history.csv").write_text(HEADER + "".join(rows))
    return prefix


def test_progress_is_the_last_aggregated_row(tmp_path: Path) -> None:
    prefix = _history(
        tmp_path,
        "1,5,,Aggregated,0.0,0.0,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,0,0,0,0,0,0,0\n",
        "2,5,GET,/api/todos/,3.0,0.0,20,25,30,31,40,85,90,95,99,99,99,40,0,20,22,5,99,120\n",
        "2,5,,Aggregated,3.0,0.0,21,25,30,31,40,88,90,95,99,99,99,1834,0,20,22,5,99,120\n",
    )

    assert progress(prefix) == (1834, 88.0)
    line = progress_line(120.4, prefix, {"workers": {"43": 99.0, "42": 99.1}})
    assert line == "t=   120s requests=1834 p95=88ms rss MiB 42=99.1 43=99.0"


def test_progress_before_locust_wrote_anything(tmp_path: Path) -> None:
    prefix = tmp_path / "soak"
    assert progress(prefix) == (0, None)
    assert progress_line(3, _history(tmp_path), {}) == "t=     3s requests=0 p95=- rss MiB -"


def test_the_soak_samples_and_exports_traces_as_production_does() -> None:
    tracing = tracing_environment("http://127.0.0.1:4318")
    assert tracing["OTEL_TRACES_SAMPLER"] == "parentbased_traceidratio"
    assert float(tracing["OTEL_TRACES_SAMPLER_ARG"]) == 0.1  # the production overlay's ratio
    assert tracing["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://127.0.0.1:4318"

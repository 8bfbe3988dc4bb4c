"""The exports' business metrics (``todos_export*``): what the jobs SLO is built on.

``todos_exports_requested_total{format}`` counts exports accepted by the API (web process,
once the job is published); ``todos_exports_finished_total{format, outcome}`` counts runs that
finished the export, ``outcome`` ``succeeded`` or ``failed`` (worker); and
``todos_export_completion_seconds{format}`` is the time from the export's ``created_at`` to its
finish, for succeeded exports, with the run's trace as exemplar (60 s, the SLO's threshold, is a
bucket boundary). Every series exists at 0 from the start, so ratios and alerts read it before
the first event.
"""

from __future__ import annotations

from prometheus_client import Counter

from app.exports.models import ExportFormat, ExportStatus
from app.telemetry.prometheus.histograms import ExemplarHistogram

OUTCOMES = (ExportStatus.SUCCEEDED.value, ExportStatus.FAILED.value)
COMPLETION_BUCKETS = (1, 2.5, 5, 10, 20, 30, 60, 120, 300)

exports_requested = Counter(
    "todos_exports_requested", "Exports accepted by the API (their job published).", ["format"]
)
exports_finished = Counter(
    "todos_exports_finished",
    "Export runs that finished the export, by outcome (succeeded or failed).",
    ["format", "outcome"],
)
export_completion_seconds = ExemplarHistogram(
    "todos_export_completion_seconds",
    "Time from an export's creation to its file being ready (succeeded exports only).",
    ["format"],
    buckets=COMPLETION_BUCKETS,
)

for _format in ExportFormat.values:
    exports_requested.labels(format=_format)
    export_completion_seconds.labels(format=_format)
    for _outcome in OUTCOMES:
        exports_finished.labels(format=_format, outcome=_outcome)


def record_requested(*, format: str) -> None:  # the API's word
    """An export was accepted and its job published."""
    exports_requested.labels(format=format).inc()


def record_finished(*, format: str, outcome: str, completion_seconds: float) -> None:
    """A run finished an export; a success also observes its completion time."""
    exports_finished.labels(format=format, outcome=outcome).inc()
    if outcome == ExportStatus.SUCCEEDED:
        export_completion_seconds.labels(format=format).observe(max(completion_seconds, 0.0))

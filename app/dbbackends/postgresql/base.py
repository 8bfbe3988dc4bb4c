"""PostgreSQL with django-prometheus' query metrics and a client span per query.

django-prometheus' backend counts queries, errors and connections under its usual names; the
execute wrapper of ``app.telemetry.db_spans`` adds the spans (only inside sampled requests).
"""

from typing import Any

from django_prometheus.db.backends.postgresql import base

from app.telemetry import db_spans


class DatabaseWrapper(base.DatabaseWrapper):  # type: ignore[misc]
    """django-prometheus' PostgreSQL wrapper, tracing every query it runs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        db_spans.install(self)

"""SQLite with django-prometheus' query metrics and a client span per query.

The execute wrapper of ``app.telemetry.db_spans`` adds the spans (only inside sampled
requests). The cursor wrapper is django-prometheus', without building a class per cursor:

django-prometheus' SQLite backend creates a new cursor-wrapper *class* for every cursor
(``ExportingCursorWrapper`` is a class factory called in ``create_cursor``); that was 3% of
a request's CPU in the overhead benchmark. The class depends only on the cursor class, alias
and vendor, so it is made once and reused. Metric names and labels are unchanged.
"""

from functools import cache
from typing import Any

from django_prometheus.db.backends.sqlite3 import base
from django_prometheus.db.common import ExportingCursorWrapper

from app.telemetry import db_spans

cursor_wrapper_class = cache(ExportingCursorWrapper)


class DatabaseFeatures(base.DatabaseFeatures):  # type: ignore[misc]
    """The same features as Django's SQLite backend."""


class DatabaseWrapper(base.DatabaseWrapper):  # type: ignore[misc]
    """django-prometheus' SQLite wrapper, reusing one cursor-wrapper class, tracing queries."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        db_spans.install(self)

    def create_cursor(self, name: str | None = None) -> Any:
        factory = cursor_wrapper_class(self.CURSOR_CLASS, self.alias, self.vendor)
        return self.connection.cursor(factory=factory)

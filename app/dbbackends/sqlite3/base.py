"""SQLite with django-prometheus' query metrics and a client span per query.

The execute wrapper of ``app.telemetry.tracing.db_spans`` adds the spans (only inside sampled
requests). Queries are counted by ``app.dbbackends.cursors`` (django-prometheus' names and
labels): django-prometheus' own SQLite backend builds a new cursor-wrapper *class* for every
cursor (3% of a request's CPU in the overhead benchmark) and resolves its labels per query.
"""

from typing import Any

from django_prometheus.db.backends.sqlite3 import base

from app.dbbackends.cursors import metered_cursor_class
from app.telemetry.tracing import db_spans


class DatabaseFeatures(base.DatabaseFeatures):  # type: ignore[misc]
    """The same features as Django's SQLite backend."""


class DatabaseWrapper(base.DatabaseWrapper):  # type: ignore[misc]
    """django-prometheus' SQLite wrapper, with lean query metrics, tracing every query."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        db_spans.install(self)
        # resolved once per connection wrapper, not looked up again for every cursor (a
        # cursor per query)
        self._cursor_factory = metered_cursor_class(self.CURSOR_CLASS, self.alias, self.vendor)

    def create_cursor(self, name: str | None = None) -> Any:
        return self.connection.cursor(factory=self._cursor_factory)

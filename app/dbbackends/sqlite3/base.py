"""SQLite with django-prometheus' query metrics, without building a class per cursor.

django-prometheus' SQLite backend creates a new cursor-wrapper *class* for every cursor
(``ExportingCursorWrapper`` is a class factory called in ``create_cursor``); that was 3% of
a request's CPU in the overhead benchmark. The class depends only on the cursor class, alias
and vendor, so it is made once and reused. Metric names and labels are unchanged.
"""

from functools import cache
from typing import Any

from django_prometheus.db.backends.sqlite3 import base
from django_prometheus.db.common import ExportingCursorWrapper

cursor_wrapper_class = cache(ExportingCursorWrapper)


class DatabaseFeatures(base.DatabaseFeatures):  # type: ignore[misc]
    """The same features as Django's SQLite backend."""


class DatabaseWrapper(base.DatabaseWrapper):  # type: ignore[misc]
    """django-prometheus' SQLite wrapper, reusing one cursor-wrapper class."""

    def create_cursor(self, name: str | None = None) -> Any:
        factory = cursor_wrapper_class(self.CURSOR_CLASS, self.alias, self.vendor)
        return self.connection.cursor(factory=factory)

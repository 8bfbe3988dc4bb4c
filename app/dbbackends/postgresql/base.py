"""PostgreSQL with django-prometheus' query metrics and a client span per query, reply-bound.

django-prometheus' backend counts connections under its usual names; queries are counted by
``app.dbbackends.cursors`` (the same names and labels, a third of the cost per query); the
execute wrapper of ``app.telemetry.tracing.db_spans`` adds the spans (only inside sampled requests).
Connections give up on a silent server as in the uninstrumented engine (``app.dbbackends.replies``).
"""

from typing import Any

from django.db.backends.postgresql import base as django_base
from django_prometheus.db.backends.postgresql import base

from app.dbbackends.cursors import metered_cursor_class
from app.dbbackends.replies import ReplyBoundWrapperMixin
from app.telemetry.tracing import db_spans


class DatabaseWrapper(ReplyBoundWrapperMixin, base.DatabaseWrapper):  # type: ignore[misc]
    """django-prometheus' PostgreSQL wrapper: lean query metrics, query spans, bounded replies."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        db_spans.install(self)

    def get_connection_params(self) -> dict[str, Any]:
        """Django's parameters, with psycopg making metered cursors."""
        params: dict[str, Any] = django_base.DatabaseWrapper.get_connection_params(self)
        params["cursor_factory"] = metered_cursor_class(
            params["cursor_factory"], self.alias, self.vendor
        )
        return params

"""Django's PostgreSQL backend, its connections reply-bound (``app.dbbackends.replies``).

The engine for PostgreSQL when telemetry is off; ``app.dbbackends.postgresql`` adds the
metrics and spans to the same bound.
"""

from django.db.backends.postgresql import base

from app.dbbackends.replies import ReplyBoundWrapperMixin


class DatabaseWrapper(ReplyBoundWrapperMixin, base.DatabaseWrapper):
    """Django's PostgreSQL wrapper whose connections give up on a silent server."""

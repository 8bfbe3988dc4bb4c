"""Django app config for todos."""

from django.apps import AppConfig
from django.conf import settings

from app.todos.metrics import export_response_cache_counters


class TodosConfig(AppConfig):
    """The todos app."""

    name = "app.todos"
    label = "todos"
    verbose_name = "Todos"

    def ready(self) -> None:
        """Export the response cache's series at 0 in each process (each gunicorn worker: the
        app is not preloaded), when the cache is on."""
        if settings.RESPONSE_CACHE_SECONDS > 0:
            export_response_cache_counters()

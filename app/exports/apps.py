"""The exports app."""

from django.apps import AppConfig


class ExportsConfig(AppConfig):
    """Exports of todos, run as background jobs."""

    name = "app.exports"
    default_auto_field = "django.db.models.BigAutoField"

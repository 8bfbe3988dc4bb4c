"""Django app config for the fault switch."""

from django.apps import AppConfig


class FaultsConfig(AppConfig):
    """The fault switch app."""

    name = "app.faults"
    label = "faults"
    verbose_name = "Fault injection"

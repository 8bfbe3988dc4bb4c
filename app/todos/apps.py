"""Django app config for todos."""

from django.apps import AppConfig


class TodosConfig(AppConfig):
    """The todos app."""

    name = "app.todos"
    label = "todos"
    verbose_name = "Todos"

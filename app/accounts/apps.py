"""Django app config for accounts."""

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """The accounts app (uses Django's built-in User model)."""

    name = "app.accounts"
    label = "accounts"
    verbose_name = "Accounts"

"""Bearer-token (JWT) authentication that also loads the version of the caller's todos.

simplejwt's ``JWTAuthentication`` loads the user with one query; this one joins the user's
``TodoVersion`` (``app.todos.models``, by its reverse name) into that same query, so the
response cache (``app.todos.response_cache``) keys entries and ETags by version without a query
of its own: a cached read or a 304 costs only the query that authenticates the caller. Used
for every endpoint (``DEFAULT_AUTHENTICATION_CLASSES``): one bearer scheme in the schema.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework_simplejwt.authentication import JWTAuthentication


class _UsersWithTodoVersion:
    """The part of a user model ``JWTAuthentication.get_user`` uses: ``objects`` and
    ``DoesNotExist``, with the version joined into the query."""

    DoesNotExist = User.DoesNotExist

    @property
    def objects(self) -> Any:
        return User.objects.select_related("todo_version")


class TodoVersionJWTAuthentication(JWTAuthentication):
    """``JWTAuthentication`` whose user query also reads the user's ``TodoVersion``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user_model = _UsersWithTodoVersion()  # type: ignore[assignment]


class TodoVersionJWTScheme(SimpleJWTScheme):  # type: ignore[no-untyped-call]
    """Documented as the bearer scheme it is (drf-spectacular matches exact classes only)."""

    target_class = "app.api.authentication.TodoVersionJWTAuthentication"

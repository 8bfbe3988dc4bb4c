"""The Todo model: a title and a done flag, owned by one user."""

from django.conf import settings
from django.db import models
from django_prometheus.models import ExportModelOperationsMixin

TITLE_MAX_LENGTH = 100


class Todo(ExportModelOperationsMixin("todo"), models.Model):  # type: ignore[misc]
    """One thing to do, visible only to its owner."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="todos"
    )
    title = models.CharField(max_length=TITLE_MAX_LENGTH)
    completed = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            # default list order, and ?ordering=created_at, per owner
            models.Index(fields=["owner", "-created_at", "-id"], name="todo_owner_created_idx"),
            # ?completed= filter with the default order
            models.Index(
                fields=["owner", "completed", "-created_at"], name="todo_owner_completed_idx"
            ),
            # ?ordering=title
            models.Index(fields=["owner", "title"], name="todo_owner_title_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=~models.Q(title=""), name="todo_title_not_empty"),
        ]

    def __str__(self) -> str:
        return self.title


class TodoVersion(models.Model):
    """The version of one owner's todos, raised in the transaction of every write to them.

    Read with the user that authenticates a request (one query, ``app.api.authentication``),
    it keys the cached responses and their ETags (``app.todos.response_cache``): a committed
    write changes the version, so no response cached before it can be served after it, whether
    or not the cache was reachable when the write happened. Values are microseconds since the
    epoch or above, never lowered: they do not repeat after a restore of an older backup.
    """

    owner = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="todo_version",
    )
    value = models.BigIntegerField()

    def __str__(self) -> str:
        return f"{self.owner_id}@{self.value}"

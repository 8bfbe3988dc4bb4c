"""Admin for todos."""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from app.todos import services
from app.todos.models import Todo


@admin.register(Todo)
class TodoAdmin(admin.ModelAdmin[Todo]):
    """Todos, searchable by title and owner."""

    list_display = ["id", "title", "owner", "completed", "created_at"]
    list_filter = ["completed"]
    search_fields = ["title", "owner__username"]
    list_select_related = ["owner"]
    raw_id_fields = ["owner"]
    readonly_fields = ["created_at", "updated_at"]

    def save_model(
        self, request: HttpRequest, obj: Todo, form: ModelForm[Todo], change: bool
    ) -> None:
        """Save, and expire the cached reads of the owner (and of the previous one)."""
        super().save_model(request, obj, form, change)
        previous: Any = form.initial.get("owner")
        services.todos_changed(owner_ids=[obj.owner_id, *([previous] if previous else [])])

    def delete_model(self, request: HttpRequest, obj: Todo) -> None:
        """Delete, and expire the owner's cached reads."""
        owner_id = obj.owner_id
        super().delete_model(request, obj)
        services.todos_changed(owner_ids=[owner_id])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Todo]) -> None:
        """Delete in bulk, and expire every owner's cached reads."""
        owner_ids = list(queryset.values_list("owner_id", flat=True).distinct())
        super().delete_queryset(request, queryset)
        services.todos_changed(owner_ids=owner_ids)

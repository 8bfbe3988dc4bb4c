"""Admin for todos."""

from django.contrib import admin

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

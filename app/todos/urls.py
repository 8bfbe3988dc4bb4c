"""Routes for /api/todos/: path-style (``<int:pk>``) so route templates read well."""

from rest_framework.routers import SimpleRouter

from app.todos.views import TodoViewSet

router = SimpleRouter(use_regex_path=False)
router.register("todos", TodoViewSet, basename="todo")

urlpatterns = router.urls

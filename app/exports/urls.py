"""Routes for /api/todos/exports/: path-style, the id a UUID."""

from rest_framework.routers import SimpleRouter

from app.exports.views import ExportViewSet

router = SimpleRouter(use_regex_path=False)
router.register("todos/exports", ExportViewSet, basename="export")

urlpatterns = router.urls

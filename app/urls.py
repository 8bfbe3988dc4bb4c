"""URL routes: the API under /api/, GraphQL at /graphql/, probes at the root, the admin at
/admin/."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from app.telemetry import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("api/auth/", include("app.accounts.urls")),
    path("api/", include("app.exports.urls")),
    path("api/", include("app.todos.urls")),
    path("api/", include("app.faults.urls")),
    path("", include("app.graphql.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("admin/", admin.site.urls),
]

handler400 = "app.api.errors.bad_request"
handler403 = "app.api.errors.permission_denied"
handler404 = "app.api.errors.not_found"
handler500 = "app.api.errors.server_error"

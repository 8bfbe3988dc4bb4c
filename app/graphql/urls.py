"""Route of the GraphQL endpoint: ``/graphql/`` (GET and POST)."""

from django.urls import path

from app.graphql.views import GraphQLView

urlpatterns = [path("graphql/", GraphQLView.as_view(), name="graphql")]

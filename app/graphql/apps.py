"""Django app config for the GraphQL endpoint."""

from django.apps import AppConfig


class GraphQLConfig(AppConfig):
    """The GraphQL endpoint (``app.graphql``)."""

    name = "app.graphql"
    label = "todos_graphql"  # not "graphql": that is graphql-core's package name
    verbose_name = "GraphQL"

    def ready(self) -> None:
        """Export the operation and error series at 0 in each process (each gunicorn worker),
        so the SLI's numerator and the error panels exist before the first error."""
        from app.graphql.metrics import export_series_at_zero  # noqa: PLC0415

        export_series_at_zero()

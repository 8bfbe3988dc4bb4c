"""The GraphQL endpoint (``/graphql/``): Strawberry types over the todos' services and
selectors, with limits, error codes and per-operation telemetry."""

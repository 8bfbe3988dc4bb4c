"""The schema's SDL, committed as ``app/graphql/schema.graphql`` for clients and reviews.

``manage.py graphql_schema`` (``make schema``, part of ``make generate``) writes it;
``--check`` fails when the committed file differs from the code (``make lint``, and a test).
"""

from __future__ import annotations

from pathlib import Path

from app.graphql.schema import schema

SDL_PATH = Path(__file__).resolve().parent / "schema.graphql"
HEADER = (
    "# The todo service's GraphQL schema (POST/GET /graphql/), generated from app/graphql by\n"
    "# `make schema` (manage.py graphql_schema): do not edit. Clients generate their types from\n"
    "# it; `make lint` and tests/graphql fail when it is stale.\n\n"
)


def schema_sdl() -> str:
    """The SDL of the schema, with its header."""
    return HEADER + schema.as_str() + "\n"


def stale() -> bool:
    """True when the committed SDL differs from the code's."""
    return not SDL_PATH.exists() or SDL_PATH.read_text(encoding="utf-8") != schema_sdl()

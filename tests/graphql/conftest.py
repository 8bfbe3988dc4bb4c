"""Fixtures of the GraphQL tests: introspection on (debug is off in the tests)."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def introspection(settings: Any) -> None:
    """``GRAPHQL_INTROSPECTION`` on."""
    settings.GRAPHQL_INTROSPECTION = True

"""Fixtures of the fault tests: a clean fault state and environment identity per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.faults.state import state
from app.telemetry import identity


@pytest.fixture
def fresh_fault_state() -> Iterator[None]:
    """No override and a re-read identity (production guard) before and after the test."""
    identity.service_identity.cache_clear()
    state.reset()
    yield
    state.reset()
    identity.service_identity.cache_clear()

"""Wait for a condition: poll a value until it holds, or fail the test saying why."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")


def poll(
    fetch: Callable[[], T],
    done: Callable[[T], bool],
    *,
    timeout: float,
    failure: Callable[[T], str],
    interval: float = 0.2,
) -> T:
    """Call ``fetch`` every ``interval`` s until ``done`` holds for its value; return that value.

    After ``timeout`` s without it, fail the test with ``failure(last value)``.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if done(value):
            return value
        if time.monotonic() >= deadline:
            pytest.fail(failure(value), pytrace=False)
        time.sleep(interval)

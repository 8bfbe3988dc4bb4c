"""Ports on 127.0.0.1: a free one to listen on, a closed one to be refused by."""

from __future__ import annotations

from loadtests.local_server import HOST, free_port

__all__ = ["HOST", "closed_port", "free_port"]


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens: connections to it are refused."""
    return free_port()

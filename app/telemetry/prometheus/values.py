"""Multiprocess metric values that ask the kernel for the process id once, not per update.

prometheus_client's multiprocess values call ``os.getpid()`` on every ``inc``, ``set`` and
``observe`` to notice a fork, and glibc no longer caches the id: each update was a system call
(27 per retrieve request, counted with ``strace -c``). These values read the id from a variable
that ``os.register_at_fork`` refreshes in every child, through prometheus_client's own
``process_identifier`` hook, so its files, their format and its handling of a fork stay as
they are.
"""

from __future__ import annotations

import os

from prometheus_client import values

_pid = os.getpid()


def _refresh_pid() -> None:
    global _pid  # noqa: PLW0603  # this process' id, refreshed in each forked child
    _pid = os.getpid()


os.register_at_fork(after_in_child=_refresh_pid)


def current_pid() -> int:
    """This process' id without a system call (refreshed after every ``fork``)."""
    return _pid


def use_fork_aware_values() -> None:
    """Give metrics created from now on the cached-pid values (multiprocess mode only).

    In one process (no ``PROMETHEUS_MULTIPROC_DIR``) prometheus_client's in-memory values are
    kept: they never look at the process id.
    """
    current = values.ValueClass
    if not getattr(current, "_multiprocess", False) or getattr(current, "fork_aware", False):
        return
    fork_aware = values.MultiProcessValue(process_identifier=current_pid)
    fork_aware.fork_aware = True
    values.ValueClass = fork_aware

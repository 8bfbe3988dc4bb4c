"""The CPU time a benchmarked gunicorn worker uses, read from /proc: which process the worker
is, and how much CPU it has had (clock ticks for all its threads, or each thread's scheduler
runtime in nanoseconds)."""

from __future__ import annotations

import os
import time
from pathlib import Path

PROC = Path("/proc")


def parse_children(text: str) -> list[int]:
    """Pids in a /proc/<pid>/task/<tid>/children file (space-separated)."""
    return [int(pid) for pid in text.split()]


def worker_pid(master: int, proc: Path = PROC, timeout: float = 10) -> int:
    """The gunicorn master's only child (WEB_CONCURRENCY=1), waiting up to ``timeout`` s."""
    children_file = proc / str(master) / "task" / str(master) / "children"
    deadline = time.monotonic() + timeout
    while True:
        children = parse_children(children_file.read_text())
        if len(children) == 1:
            return children[0]
        if time.monotonic() >= deadline:
            raise RuntimeError(f"gunicorn {master} has workers {children}, expected one")
        time.sleep(0.1)


def parse_proc_stat(text: str) -> int:
    """utime + stime, in clock ticks, from a /proc/<pid>/stat line. The command name (field
    2) is in parentheses and may hold spaces or parentheses, so fields count from the last
    ``)``: state is field 3, utime 14 and stime 15."""
    fields = text[text.rindex(")") + 1 :].split()
    return int(fields[11]) + int(fields[12])


def cpu_seconds(pid: int, proc: Path = PROC) -> float:
    """CPU time (user + system) a process has used, all its threads included."""
    ticks = parse_proc_stat((proc / str(pid) / "stat").read_text())
    return ticks / os.sysconf("SC_CLK_TCK")


def runtime_seconds(pid: int, proc: Path = PROC) -> float:
    """The time the scheduler has run a process's live threads, to the nanosecond (the first
    field of each /proc/<pid>/task/<tid>/schedstat). Clock ticks (``cpu_seconds``) charge a
    whole 10 ms tick to whichever process the tick finds running: fine alone on a core, coarse
    when two processes take turns on it every few milliseconds. Threads that end between two
    readings drop out of the second; a worker's threads live as long as it does."""
    total = 0
    for task in (proc / str(pid) / "task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):  # the thread ended meanwhile
            continue
    return total / 1e9

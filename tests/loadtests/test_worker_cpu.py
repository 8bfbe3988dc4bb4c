"""loadtests/worker_cpu.py: a worker's pid and CPU time from /proc (fake trees and this very
process)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from loadtests import worker_cpu
from tests.support.busy_http import burn

STAT = (
    "4242 (gunicorn: worker (todo-api)) S 4241 4241 4241 0 -1 4194560 5133 0 0 0 "
    "1500 250 0 0 20 0 3 0 123456 300000000 20000 18446744073709551615 1 1 0 0 0 0 0 "
    "16781312 134235650 0 0 0 17 0 0 0 0 0 0"
)


def test_parse_proc_stat_adds_utime_and_stime_after_a_command_name_with_spaces_and_parens() -> None:
    assert worker_cpu.parse_proc_stat(STAT) == 1500 + 250


def test_cpu_seconds_divides_ticks_by_the_clock_rate(tmp_path: Path) -> None:
    (tmp_path / "4242").mkdir()
    (tmp_path / "4242" / "stat").write_text(STAT + "\n")

    seconds = worker_cpu.cpu_seconds(4242, proc=tmp_path)

    assert seconds == pytest.approx(1750 / os.sysconf("SC_CLK_TCK"))


@pytest.mark.parametrize(
    ("reading", "at_least"),
    [(worker_cpu.cpu_seconds, 0.05), (worker_cpu.runtime_seconds, 0.09)],
    ids=["clock ticks", "scheduler runtime"],
)
def test_the_cpu_time_of_a_real_process_grows_while_it_computes(
    reading: Callable[[int], float], at_least: float
) -> None:
    """Ticks are counted 10 ms at a time, the runtime to the nanosecond."""
    before = reading(os.getpid())
    burn(0.1)

    assert reading(os.getpid()) - before >= at_least


def test_worker_pid_is_the_masters_only_child(tmp_path: Path) -> None:
    task = tmp_path / "100" / "task" / "100"
    task.mkdir(parents=True)
    (task / "children").write_text("101 ")

    assert worker_cpu.worker_pid(100, proc=tmp_path) == 101

    (task / "children").write_text("101 102 ")
    with pytest.raises(RuntimeError, match="expected one"):
        worker_cpu.worker_pid(100, proc=tmp_path, timeout=0)


def test_runtime_seconds_adds_every_threads_nanoseconds_and_skips_one_that_ended(
    tmp_path: Path,
) -> None:
    for task, schedstat in (("4242", "1500000000 20 30\n"), ("4243", "250000000 1 2\n")):
        (tmp_path / "4242" / "task" / task).mkdir(parents=True)
        (tmp_path / "4242" / "task" / task / "schedstat").write_text(schedstat)
    (tmp_path / "4242" / "task" / "4244").mkdir()  # ended between listing and reading

    assert worker_cpu.runtime_seconds(4242, proc=tmp_path) == pytest.approx(1.75)

"""The local gunicorn launcher shared by make bench, make soak and the system tests.

Its happy path runs in every system test (tests/support/servers.py starts gunicorn with it);
here: the environment it builds and how it fails, on tiny Python processes.
"""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import pytest

from loadtests import local_server
from loadtests.local_server import HOST, NotReadyError


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_the_base_environment_is_production_like_over_what_it_inherits(tmp_path: Path) -> None:
    env = local_server.base_environment(
        port=8001,
        metrics_port=9001,
        static_root=tmp_path / "static",
        workers=3,
        inherited={"KEPT": "yes", "DJANGO_DEBUG": "true"},
    )

    assert env["KEPT"] == "yes"
    assert env["DJANGO_DEBUG"] == "false"
    assert (env["BIND_HOST"], env["PORT"], env["METRICS_PORT"]) == (HOST, "8001", "9001")
    assert env["WEB_CONCURRENCY"] == "3"
    assert env["DJANGO_STATIC_ROOT"] == str(tmp_path / "static")
    assert env["DJANGO_ALLOWED_HOSTS"] == f"{HOST},localhost"
    assert len(env["DJANGO_SECRET_KEY"]) >= 50


def test_each_environment_gets_its_own_secret_key(tmp_path: Path) -> None:
    keys = {
        local_server.base_environment(
            port=1, metrics_port=2, static_root=tmp_path, workers=1, inherited={}
        )["DJANGO_SECRET_KEY"]
        for _ in range(2)
    }

    assert len(keys) == 2


def test_a_free_port_can_be_listened_on() -> None:
    port = local_server.free_port()

    with socket.socket() as sock:
        sock.bind((HOST, port))


def test_free_ports_are_below_the_ephemeral_range_outgoing_connections_use() -> None:
    """Else a client socket can take the port between picking it and the server binding it."""
    first_ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])

    ports = {local_server.free_port() for _ in range(50)}

    assert all(10_000 <= port < first_ephemeral for port in ports), sorted(ports)
    assert len(ports) > 40  # spread out, so parallel servers rarely pick the same one


def test_waiting_for_a_process_that_exits_names_its_exit_status(tmp_path: Path) -> None:
    process = local_server.start(
        python("import sys; print('boom'); sys.exit(3)"), env=None, log_path=tmp_path / "log"
    )

    with pytest.raises(NotReadyError) as raised:
        local_server.wait_until_ready(process, lambda: False, timeout=30)

    assert raised.value.returncode == 3
    assert "exited with 3" in str(raised.value)
    assert local_server.log_tail(tmp_path / "log") == "boom"


def test_waiting_gives_up_after_the_timeout(tmp_path: Path) -> None:
    process = local_server.start(
        python("import time; time.sleep(30)"), env=None, log_path=tmp_path / "log"
    )
    try:
        started = time.monotonic()
        with pytest.raises(NotReadyError) as raised:
            local_server.wait_until_ready(process, lambda: False, timeout=0.3, interval=0.05)
        assert raised.value.returncode is None
        assert time.monotonic() - started < 5
    finally:
        local_server.stop(process, grace_s=5)


def test_waiting_returns_once_the_process_is_ready(tmp_path: Path) -> None:
    process = local_server.start(
        python("import time; time.sleep(30)"), env=None, log_path=tmp_path / "log"
    )
    calls = iter([False, False, True])
    try:
        local_server.wait_until_ready(process, lambda: next(calls), timeout=10, interval=0.01)
        assert process.poll() is None
    finally:
        local_server.stop(process, grace_s=5)


def test_stop_kills_a_process_that_ignores_sigterm(tmp_path: Path) -> None:
    ignores_sigterm = (
        "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(30)"
    )
    log = tmp_path / "log"
    process = local_server.start(python(ignores_sigterm), env=None, log_path=log)
    local_server.wait_until_ready(
        process, lambda: log.read_text() == "ready\n", timeout=10, interval=0.01
    )

    local_server.stop(process, grace_s=0.5)

    assert process.returncode == -9


def test_the_log_tail_is_the_last_lines_or_says_there_is_no_log(tmp_path: Path) -> None:
    log = tmp_path / "gunicorn.log"
    log.write_text("".join(f"line {n}\n" for n in range(50)))

    assert local_server.log_tail(log, lines=2) == "line 48\nline 49"
    assert local_server.log_tail(tmp_path / "missing.log") == "(no log)"


def test_a_closed_port_does_not_answer_200() -> None:
    assert not local_server.answers_200(f"http://{HOST}:{local_server.free_port()}/healthz")


def test_the_celery_worker_command_is_app_jobs_worker_command_from_this_virtualenv() -> None:
    from app.jobs.commands import worker_command  # noqa: PLC0415  # tests may import app

    command = local_server.celery_worker_command()
    assert command[0] == str(local_server.BIN / "python")
    assert command[1:] == worker_command()[1:]


def test_jobs_run_without_a_server_inside_the_given_directory(tmp_path: Path) -> None:
    env = local_server.jobs_environment(tmp_path)
    assert env["CELERY_BROKER_URL"] == "filesystem://"
    for name in (
        "CELERY_FILESYSTEM_BROKER_DIR",
        "CELERY_BEAT_SCHEDULE_FILENAME",
        "EXPORT_STORAGE_DIR",
    ):
        assert Path(env[name]).is_relative_to(tmp_path), name

"""Run the service under a local gunicorn with the project's ``gunicorn.conf.py``.

One launcher for everything that starts a real server on this machine: ``make bench``
(``loadtests/bench.py``), ``make soak`` (``loadtests/soak.py``) and the system tests (through
``tests/support/servers.py``). Each caller adds its own settings over ``base_environment`` and
formats its own failures; this module only knows how to:

- pick a free port on 127.0.0.1 (``free_port``);
- build the production-like environment every local server shares (``base_environment``);
- run ``manage.py`` (``manage``), start a command with its output in a log file (``start``),
  wait until it is ready (``wait_until_ready``, raising ``NotReadyError``) and stop it (``stop``);
- show the end of a log (``log_tail``).

Bandit findings accepted here (marked inline): subprocess runs fixed argument lists without a
shell (B404, B603); urlopen only reaches the local server (B310).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess  # nosec B404
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

HOST = "127.0.0.1"
REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
# Every simulated user of a load run comes from one IP: the throttles would reject them.
NO_THROTTLES = {
    "THROTTLE_ANON_RATE": "off",
    "THROTTLE_USER_RATE": "off",
    "THROTTLE_AUTH_RATE": "off",
}

# No proxies: readiness checks go straight to 127.0.0.1 even when *_proxy variables are set.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# Ports handed out below the kernel's ephemeral range: a port the OS picks for ``bind(0)`` is
# ephemeral, and between picking it and the server binding it (migrations, imports: seconds) an
# outgoing connection can take it ("Address already in use", seen in CI). Outgoing connections
# never use ports below the range.
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST_PORT = 10_000


def _below_ephemeral() -> range:
    try:
        first = int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        first = 32_768  # Linux's default
    return range(_LOWEST_PORT, max(first, _LOWEST_PORT + 1_000))


def free_port() -> int:
    """A TCP port on 127.0.0.1, below the ephemeral range, that can be bound right now."""
    candidates = _below_ephemeral()
    for _ in range(200):
        port = candidates[secrets.randbelow(len(candidates))]
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((HOST, port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:  # let the OS choose
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def gunicorn_command(config_flag: str = "--config") -> list[str]:
    """gunicorn from this virtualenv with the project's ``gunicorn.conf.py``, started as the
    image and ``make run`` start it (``app.serve`` checks WEB_CONCURRENCY first)."""
    return [str(BIN / "python"), "-m", "app.serve", config_flag, "gunicorn.conf.py"]


def celery_worker_command() -> list[str]:
    """A Celery worker from this virtualenv, with the arguments of ``app/jobs/commands.py``'s
    ``worker_command()`` (by module name: ``loadtests`` imports no ``app`` code;
    tests/loadtests/test_local_server.py keeps the two equal)."""
    return [
        str(BIN / "python"),
        *("-m", "celery", "--app", "app.jobs.celery", "--quiet", "worker"),
        *("--hostname", "worker@%h", "--without-gossip", "--without-mingle"),
        *("--without-heartbeat", "--loglevel", "INFO"),
    ]


def jobs_environment(directory: Path) -> dict[str, str]:
    """Background jobs on one machine without a server: the filesystem broker, the export
    files and beat's schedule, all under ``directory``."""
    return {
        "CELERY_BROKER_URL": "filesystem://",
        "CELERY_FILESYSTEM_BROKER_DIR": str(directory / "broker"),
        "CELERY_BEAT_SCHEDULE_FILENAME": str(directory / "beat-schedule"),
        "EXPORT_STORAGE_DIR": str(directory / "exports"),
    }


def base_environment(
    *,
    port: int,
    metrics_port: int,
    static_root: Path,
    workers: int,
    allowed_hosts: str = f"{HOST},localhost",
    inherited: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """``inherited`` (default: this process's environment) plus production-like settings
    (debug off, a fresh secret key, JSON logs) for a gunicorn on ``HOST:port``."""
    return {
        **(os.environ if inherited is None else inherited),
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": allowed_hosts,
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_STATIC_ROOT": str(static_root),
        "BIND_HOST": HOST,
        "PORT": str(port),
        "METRICS_PORT": str(metrics_port),
        "WEB_CONCURRENCY": str(workers),
        "LOG_FORMAT": "json",
    }


def run_python(
    args: Sequence[str], env: Mapping[str, str], timeout: float | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python ARGS`` from the repository root with exactly ``env``; output captured as
    text, the exit status not checked."""
    return subprocess.run(  # noqa: S603  # nosec B603  # our own interpreter and arguments
        [sys.executable, *args],
        cwd=REPO,
        env=dict(env),
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def manage(
    *args: str, env: Mapping[str, str], timeout: float | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python manage.py ARGS`` from the repository root, output captured, not checked."""
    return run_python(["manage.py", *args], env, timeout)


def start(
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None,
    log_path: Path,
    cwd: Path = REPO,
    new_session: bool = True,
) -> subprocess.Popen[bytes]:
    """Start ``command`` with stdout and stderr to ``log_path``; in a new session unless
    ``new_session`` is false (then a terminal's Ctrl-C reaches it too)."""
    with log_path.open("wb") as log:
        return subprocess.Popen(  # noqa: S603  # nosec B603
            list(command),
            cwd=cwd,
            env=None if env is None else dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=new_session,
        )


def answers_200(url: str, *, timeout: float = 2.0) -> bool:
    """True when ``url`` answers 200 now; False on any other status or a connection error."""
    with (
        contextlib.suppress(OSError),  # refused, reset, or an error status (HTTPError)
        _OPENER.open(url, timeout=timeout) as answer,
    ):
        return bool(answer.status == 200)
    return False


class NotReadyError(Exception):
    """The server exited (``returncode`` set) or was not ready within ``timeout`` seconds."""

    def __init__(self, *, returncode: int | None, timeout: float) -> None:
        self.returncode = returncode
        self.timeout = timeout
        problem = "was not ready" if returncode is None else f"exited with {returncode}"
        super().__init__(f"server {problem} (waited up to {timeout:.0f} s)")


def wait_until_ready(
    process: subprocess.Popen[bytes],
    ready: Callable[[], bool],
    *,
    timeout: float,
    interval: float = 0.1,
) -> None:
    """Call ``ready`` every ``interval`` s until it holds; raise ``NotReadyError`` if ``process``
    exits first or ``timeout`` s pass."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise NotReadyError(returncode=process.returncode, timeout=timeout)
        if ready():
            return
        if time.monotonic() >= deadline:
            raise NotReadyError(returncode=None, timeout=timeout)
        time.sleep(interval)


def stop(process: subprocess.Popen[bytes], *, grace_s: float) -> None:
    """SIGTERM (gunicorn's graceful shutdown) and wait up to ``grace_s``; then SIGKILL, to the
    whole process group when ``start`` made one, and wait again."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        if _leads_its_group(process):
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
        process.wait(timeout=grace_s)


def _leads_its_group(process: subprocess.Popen[bytes]) -> bool:
    try:
        return os.getpgid(process.pid) == process.pid
    except ProcessLookupError:
        return False


def log_tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a server log."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])

"""gunicorn configuration for the todo service (read by `gunicorn -c gunicorn.conf.py`).

Used by `make run`, the end-to-end tests and the container image alike. Everything is tunable
from the environment: WEB_CONCURRENCY, PORT, BIND_HOST, GUNICORN_TIMEOUT,
GUNICORN_GRACEFUL_TIMEOUT, GUNICORN_KEEPALIVE, FORWARDED_ALLOW_IPS.
"""

import os


def _cpu_count() -> int:
    """CPUs this process may run on (affinity-aware, unlike os.cpu_count())."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name}={raw!r} is not an integer") from None


wsgi_app = "app.wsgi:application"
bind = [f"{os.environ.get('BIND_HOST', '0.0.0.0')}:{_int_env('PORT', 8000)}"]

# Sync workers: one request at a time per process; the classic (2 x CPUs) + 1 default.
worker_class = "sync"
workers = _int_env("WEB_CONCURRENCY", 2 * _cpu_count() + 1)

# A request running past `timeout` is killed; on SIGTERM workers stop accepting, finish what
# they are serving for up to `graceful_timeout` seconds, then exit. Keep the Kubernetes
# terminationGracePeriodSeconds above graceful_timeout plus the preStop delay.
timeout = _int_env("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int_env("GUNICORN_GRACEFUL_TIMEOUT", 25)
keepalive = _int_env("GUNICORN_KEEPALIVE", 5)

# Heartbeat files in memory: works with a read-only root filesystem.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None

# Trust X-Forwarded-* only from these proxy addresses (comma-separated, or *).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

# The application logs each request itself (structured); gunicorn's access log stays off.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()

# Telemetry must start in each worker after fork, so the app is not preloaded in the master.
preload_app = False
proc_name = "todo-api"

# No runtime control socket: it would be written under $HOME (read-only in containers) and
# shared by every gunicorn on the machine.
control_socket_disable = True

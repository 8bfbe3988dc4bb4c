"""SIGTERM to gunicorn's master with slow requests in flight: they all finish, then it exits 0.

Three sync workers each serve one request slowed by the latency fault (``FAULT_LATENCY_MS``,
2 s on ``/api/todos/``). Once the metrics endpoint shows all of them inside the application,
the master gets SIGTERM (what Kubernetes sends on pod deletion). Every in-flight request must
be answered 200 (no reset, no truncated answer), the master must exit within
``GUNICORN_GRACEFUL_TIMEOUT`` (10 s here; 25 s by default) with status 0, and it must have
waited for the requests (not killed them at once).
"""

from __future__ import annotations

import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.accounts import create_account
from tests.support.load import Outcome, call, wait_for_workers
from tests.support.prometheus import scrape
from tests.support.servers import run_server_on_new_database
from tests.support.waiting import poll

# Run once, on the deployment database (the PostgreSQL pass): what it tests does not depend
# on the database, and the suite must fit CI's 20 minutes.
pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

WORKERS = 3
LATENCY_MS = 2000
GRACEFUL_TIMEOUT_S = 10
IN_FLIGHT_DEADLINE_S = 10.0
ENTERED = "django_http_requests_before_middlewares_total"


def test_sigterm_lets_in_flight_requests_finish_and_exits_zero(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    overrides = {
        "WEB_CONCURRENCY": str(WORKERS),
        "FAULT_LATENCY_MS": str(LATENCY_MS),
        "FAULT_ROUTES": "/api/todos/",
        "GUNICORN_GRACEFUL_TIMEOUT": str(GRACEFUL_TIMEOUT_S),
    }
    directory = tmp_path_factory.mktemp("graceful-shutdown")
    with run_server_on_new_database(overrides, directory=directory) as server:
        wait_for_workers(server, WORKERS)
        auth = create_account(server).headers
        entered_before = scrape(server).value(ENTERED)

        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            in_flight = [
                pool.submit(call, "GET", f"{server.url}/api/todos/", headers=auth, timeout=30)
                for _ in range(WORKERS)
            ]
            poll(  # every request is inside a worker, sleeping in the latency fault
                lambda: scrape(server).value(ENTERED) - entered_before,
                lambda entered: entered >= WORKERS,
                timeout=IN_FLIGHT_DEADLINE_S,
                interval=0.05,
                failure=lambda entered: f"only {entered:g} of {WORKERS} requests started",
            )
            assert not any(future.done() for future in in_flight)

            signalled_at = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            try:
                returncode = server.process.wait(timeout=GRACEFUL_TIMEOUT_S + 5)
            except subprocess.TimeoutExpired:
                pytest.fail(f"the master still runs {GRACEFUL_TIMEOUT_S + 5} s after SIGTERM")
            exited_s = time.monotonic() - signalled_at
            outcomes: list[Outcome] = [future.result(timeout=30) for future in in_flight]

        answered_s = [o.started + o.elapsed_s - signalled_at for o in outcomes]
        print(  # noqa: T201  # the measured figures are part of the result
            f"\nmaster exited {exited_s:.2f} s after SIGTERM (graceful timeout "
            f"{GRACEFUL_TIMEOUT_S} s), status {returncode}; in-flight requests answered "
            f"{', '.join(f'{s:.2f}' for s in answered_s)} s after it: "
            f"{[o.status or o.error for o in outcomes]}"
        )
        log = server.log()
        assert [o.status for o in outcomes] == [200] * WORKERS, outcomes
        assert all(isinstance(o.body, dict) and "results" in o.body for o in outcomes), outcomes
        assert returncode == 0, log[-5000:]
        assert exited_s < GRACEFUL_TIMEOUT_S, log[-5000:]
        assert exited_s >= max(answered_s), "the master exited before answering everything"
        assert "Shutting down: Master" in log, log[-5000:]
        assert "WORKER TIMEOUT" not in log

"""Container probes with the kubelet's rules: which port and path, how often, how many tries.

An httpGet probe goes to the pod's IP (127.0.0.1 on the host network) at its port, a number or
the name of one of the container's ports; 200-399 is success, anything else (or no answer
within timeoutSeconds) a failure. Defaults are the API's: periodSeconds 10, timeoutSeconds 1,
successThreshold 1, failureThreshold 3, initialDelaySeconds 0. A startup probe gates the others;
failureThreshold consecutive failures fail it (the kubelet kills the container).
"""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from k8s.podrun.spec import SpecError

Object = dict[str, Any]


class ProbeError(Exception):
    """A probe reached its failureThreshold (the kubelet would restart or unready the pod)."""


@dataclass(frozen=True)
class Probe:
    """One probe of a container, with its port resolved."""

    kind: str  # startupProbe, readinessProbe, livenessProbe
    container: str
    port: int
    path: str
    scheme: str
    headers: tuple[tuple[str, str], ...]
    initial_delay: float
    period: float
    timeout: float
    success_threshold: int
    failure_threshold: int

    @property
    def url(self) -> str:
        """What the kubelet requests (for messages)."""
        return f"{self.scheme.lower()}://127.0.0.1:{self.port}{self.path}"

    @property
    def budget(self) -> float:
        """Seconds until the kubelet gives up: the delay plus failureThreshold periods."""
        return self.initial_delay + self.failure_threshold * self.period


def resolve_port(container: Object, port: int | str, kind: str) -> int:
    """A probe's port: a number, or the containerPort of the container's port of that name."""
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    for declared in container.get("ports") or []:
        if declared.get("name") == port:
            return int(declared["containerPort"])
    names = [declared.get("name") for declared in container.get("ports") or []]
    raise SpecError(
        f"{container['name']} {kind}: no port named {port!r} (the container declares {names}); "
        "the kubelet fails this probe every period"
    )


def probe(container: Object, kind: str) -> Probe | None:
    """The container's ``kind`` probe (httpGet only), or None when it has none."""
    spec = container.get(kind)
    if not spec:
        return None
    if "httpGet" not in spec:
        raise SpecError(f"{container['name']} {kind}: only httpGet probes are run here")
    get = spec["httpGet"]
    return Probe(
        kind=kind,
        container=container["name"],
        port=resolve_port(container, get["port"], kind),
        path=get.get("path", "/"),
        scheme=get.get("scheme", "HTTP"),
        headers=tuple((h["name"], h["value"]) for h in get.get("httpHeaders") or []),
        initial_delay=float(spec.get("initialDelaySeconds", 0)),
        period=float(spec.get("periodSeconds", 10)),
        timeout=float(spec.get("timeoutSeconds", 1)),
        success_threshold=int(spec.get("successThreshold", 1)),
        failure_threshold=int(spec.get("failureThreshold", 3)),
    )


def attempt(check: Probe) -> tuple[bool, str]:
    """One try, as the kubelet's HTTP prober: (passed, what happened)."""
    if check.scheme.upper() != "HTTP":
        return False, f"scheme {check.scheme} is not run here"
    connection = http.client.HTTPConnection("127.0.0.1", check.port, timeout=check.timeout)
    try:
        headers = {"User-Agent": "kube-probe/1.35", "Accept": "*/*", **dict(check.headers)}
        connection.request("GET", check.path, headers=headers)
        status = connection.getresponse().status
    except OSError as error:
        return False, f"{type(error).__name__}: {error}"
    finally:
        connection.close()
    return 200 <= status < 400, f"HTTP {status}"


def run_until_settled(
    check: Probe, *, alive: Callable[[], str | None], logs: Callable[[], str]
) -> float:
    """Probe every period until successThreshold passes in a row (returns the seconds taken)
    or failureThreshold failures in a row (raises ProbeError). ``alive`` returns why the
    container is gone, or None while it runs."""
    started = time.monotonic()
    time.sleep(check.initial_delay)
    passes = failures = 0
    while True:
        tick = time.monotonic()
        gone = alive()
        if gone:
            raise ProbeError(f"{check.container} {check.kind}: container {gone}\n{logs()}")
        passed, what = attempt(check)
        passes, failures = (passes + 1, 0) if passed else (0, failures + 1)
        if passes >= check.success_threshold:
            return time.monotonic() - started
        if failures >= check.failure_threshold:
            raise ProbeError(
                f"{check.container} {check.kind} failed {failures} times in a row "
                f"(every {check.period:g}s): GET {check.url} -> {what}\n{logs()}"
            )
        time.sleep(max(0.0, check.period - (time.monotonic() - tick)))

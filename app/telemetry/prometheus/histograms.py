"""Latency histograms whose observations carry the active trace as an exemplar.

In one process prometheus_client keeps the exemplar itself; under gunicorn (multiprocess mode,
which drops exemplars) each worker hands it to the master through ``exemplars``.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

from django_prometheus.middleware import Metrics
from opentelemetry.trace import TraceFlags
from prometheus_client import Histogram
from prometheus_client.samples import Exemplar
from prometheus_client.utils import floatToGoString

from app.telemetry.prometheus import exemplars
from app.telemetry.prometheus.updates import observer
from app.telemetry.tracing.current import current_span

EXEMPLAR_HISTOGRAMS = frozenset(
    {
        "django_http_requests_latency_seconds_by_view_method",
        "django_http_requests_latency_including_middlewares_seconds",
    }
)


def current_trace_exemplar() -> dict[str, str] | None:
    """``{"trace_id", "span_id"}`` of the active, sampled span, if any."""
    # a SpanContext is a tuple (trace id, span id, remote, flags, trace state, valid), unpacked
    # at once rather than read through four properties: asked once a request, sampled or not
    trace_id, span_id, _, flags, _, valid = current_span().get_span_context()
    if not (valid and flags & TraceFlags.SAMPLED):
        return None
    return {"trace_id": "%032x" % trace_id, "span_id": "%016x" % span_id}  # noqa: UP031


class ExemplarHistogram(Histogram):
    """A Histogram whose observations carry the active trace as an exemplar."""

    def _metric_init(self) -> None:
        super()._metric_init()
        self._record = observer(self)  # a series (unlabelled, or a labelled child)

    def observe(self, amount: float, exemplar: dict[str, str] | None = None) -> None:
        if exemplar is None:
            exemplar = current_trace_exemplar()
        self.keep_exemplar(self._record(amount), amount, exemplar)

    def keep_exemplar(self, index: int, amount: float, exemplar: dict[str, str] | None) -> None:
        """Keep ``exemplar`` for bucket ``index``, where an observation of ``amount`` was
        recorded: in this process's bucket (one process), or handed to the master (under
        gunicorn, whose multiprocess mode drops exemplars)."""
        if exemplar is None or "trace_id" not in exemplar:
            return
        shared = exemplars.writer()
        if shared is None:
            self._buckets[index].set_exemplar(Exemplar(exemplar, amount, time.time()))
        else:
            self._share_exemplar(shared, index, amount, exemplar)

    def _share_exemplar(
        self,
        shared: exemplars.ExemplarWriter,
        index: int,
        amount: float,
        exemplar: dict[str, str],
    ) -> None:
        """Hand the exemplar of bucket ``index`` to the master through this worker's file."""
        shared.record_lazy(
            (self._name, self._labelvalues, index),
            partial(
                self._stored_exemplar,
                index,
                amount,
                exemplar["trace_id"],
                exemplar.get("span_id", ""),
                time.time(),
            ),
        )

    def _stored_exemplar(
        self, index: int, amount: float, trace_id: str, span_id: str, timestamp: float
    ) -> exemplars.StoredExemplar:
        labels = dict(zip(self._labelnames, self._labelvalues, strict=True))
        labels["le"] = floatToGoString(self._upper_bounds[index])
        return exemplars.StoredExemplar(
            sample=f"{self._name}_bucket",
            labels=labels,
            trace_id=trace_id,
            span_id=span_id,
            value=amount,
            timestamp=timestamp,
        )


class ExemplarMetrics(Metrics):  # type: ignore[misc]  # django-prometheus is untyped
    """django-prometheus's request metrics, with exemplars on the latency histograms."""

    def register_metric(
        self, metric_cls: type[Any], name: str, documentation: str, labelnames: Any = (), **kw: Any
    ) -> Any:
        if metric_cls is Histogram and name in EXEMPLAR_HISTOGRAMS:
            metric_cls = ExemplarHistogram
        return super().register_metric(metric_cls, name, documentation, labelnames, **kw)

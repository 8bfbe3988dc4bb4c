"""How the service observes itself: logs, metrics, traces, errors and health probes.

Cut by where the code runs:

- settings load (also gunicorn's master): ``identity``, ``logging``, ``prometheus.buckets``,
  ``setup.telemetry_enabled``; these must not import anything that reads Django settings;
- gunicorn's master only: ``prometheus.server`` (serves the workers' metrics, merges exemplars);
- each worker, once after fork: ``setup`` starts ``tracing.provider`` and ``errors`` (Sentry);
- each worker, as it exits: ``exit_flush`` flushes the queued spans within gunicorn's graceful
  window (gunicorn.conf.py's ``post_worker_init`` and ``worker_exit`` hooks);
- each request: ``health`` (probes), ``access`` (request id and access log),
  ``prometheus.middleware`` (request metrics) and ``tracing.http_spans``/``db_spans``/
  ``redis_spans`` (spans); ``routes`` names the matched route for all of them.

Fault injection lives in ``app.faults`` and the cache's own metrics in ``app.cache``:
telemetry observes them.
"""

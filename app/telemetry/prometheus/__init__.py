"""Prometheus metrics: buckets, the request metrics middlewares, exemplars, the master's server.

``buckets`` is read while settings load; ``middleware`` and ``histograms`` run in the workers
(exemplars shared through ``exemplars``), ``migrations`` in a background thread of each
worker; ``server`` runs only in gunicorn's master.
"""

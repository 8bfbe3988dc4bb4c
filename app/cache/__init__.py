"""The default cache, made to survive a Redis outage.

The cache holds only throttle counters (and the readiness probe's test key), so a request
served without it is still correct. ``config`` turns the cache settings into the resilient
backends (imported by ``settings.py``, so it imports nothing that reads settings);
``backends`` holds Django's (or django-prometheus') Redis backend behind a ``circuit`` breaker;
``fallback`` keeps the throttle counters in the worker's memory while that circuit is open.
"""

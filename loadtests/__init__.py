"""Locust load scenarios for the todo service, with an SLO verdict (see loadtests/README.md).

``locustfile.py`` wires the pieces together. Modules that import Locust (and so gevent's
monkey-patching): ``users``, ``accounts``, ``shapes``, ``faultswitch``, ``judge``,
``locustfile``. Pure modules, safe to import anywhere (the test suite imports only these):
``slo``, ``schedules``, ``mixes``, ``options``, ``outcomes``, ``tokens``, ``tracing``, ``gate``.
"""

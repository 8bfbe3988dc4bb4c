"""WSGI entry points for `make bench` variants that wrap the app (see loadtests/bench.py).

A subpackage so that k8s/generate.py, which copies the ``loadtests/*.py`` modules (all but the
local drivers bench.py and soak.py) into the Locust pods' ConfigMap, leaves them out.
"""

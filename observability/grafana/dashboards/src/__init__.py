"""Dashboards as code for the Todo API (grafana-foundation-sdk, built for Grafana 11.6).

One module per dashboard, ``common`` for what they share, ``generate`` to write the committed
JSON next to this package, ``queries`` to list every panel query (for tests against Prometheus).
"""

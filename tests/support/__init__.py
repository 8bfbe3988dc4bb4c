"""Helpers for the tests: plain modules that tests and fixtures share.

A conftest.py holds fixtures and hooks only; what they and the tests share lives here:

- servers, processes, ports, databases: start the real gunicorn (through the launcher
  ``loadtests.local_server`` that make bench and make soak use too), Prometheus or
  Alertmanager on free ports of 127.0.0.1, on a temporary database;
- http, accounts, waiting: talk to a running server, register a user, poll for a condition;
- prometheus, alerting, rules, promql: scrape metrics, run Prometheus and Alertmanager, read
  the rule files and the metric names a PromQL expression selects;
- telemetry, receivers: trace context, log lines, and the fake OTLP and Sentry backends;
- load, tcp_proxy: client load with timed outcomes, and a proxy that fakes backend outages;
- backing_services: whether PostgreSQL, Redis and the tool binaries are there (skip or fail);
- api_clients, doubles, locust_environment: in-process API clients, a fake clock and logger,
  a clean environment for Locust subprocesses;
- openapi, generated_client: the generated OpenAPI schema and bodies checked against it, and
  a client generated from a running server's schema by openapi-python-client.
"""

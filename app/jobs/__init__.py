"""Background jobs: the Celery app, its configuration from the environment, the worker's
telemetry, and the commands that start a worker and beat (``make run``, the tests)."""

"""Database backends: django-prometheus' instrumented backends, with their costs trimmed."""

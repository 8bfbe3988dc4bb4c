"""Exports of a user's todos (CSV or JSON), produced by a Celery worker and kept for a while."""

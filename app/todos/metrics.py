"""Metrics of the todos app (``todos_*``): business counters, counted after the transaction
commits, and the response cache's results."""

from prometheus_client import Counter

todos_created = Counter("todos_created", "Todos created.")
todos_completed = Counter("todos_completed", "Todos marked completed (from not completed).")
todos_deleted = Counter("todos_deleted", "Todos deleted.")

# The cached reads (``app.todos.response_cache``): ``view`` is the URL name, as in
# django-prometheus' ``django_http_*`` families; a 304 counts as a hit (no todo was read).
RESPONSE_CACHE_VIEWS = ("todo-list", "todo-detail")
RESPONSE_CACHE_RESULTS = ("hit", "miss", "bypass")
response_cache_requests = Counter(
    "todos_response_cache_requests",
    "Reads of the cached todos endpoints by result: hit (from the cache, or a 304), miss "
    "(rendered from the database, then cached), bypass (the cache was unreachable).",
    ["view", "result"],
)


def export_response_cache_counters() -> None:
    """Create every ``view``/``result`` series at 0 (once per worker, at start-up): the hit
    ratio panel and alert read them before the first hit."""
    for view in RESPONSE_CACHE_VIEWS:
        for result in RESPONSE_CACHE_RESULTS:
            response_cache_requests.labels(view, result)

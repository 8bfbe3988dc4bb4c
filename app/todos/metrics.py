"""Business metrics of the todos app (``todos_*``), counted after the transaction commits."""

from prometheus_client import Counter

todos_created = Counter("todos_created", "Todos created.")
todos_completed = Counter("todos_completed", "Todos marked completed (from not completed).")
todos_deleted = Counter("todos_deleted", "Todos deleted.")

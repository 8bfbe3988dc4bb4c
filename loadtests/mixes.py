"""Request mixes: how often a simulated client takes each action on its own todos.

``read`` (the default) is what a todo app mostly sees: listing and opening todos, an
occasional write, and now and then an export of one's todos (a background job: enqueue, poll,
download, ``loadtests/exports.py``). ``write`` is the stress case for the database: mostly
creates, updates, completions and deletes. ``exports`` is the stress case for the job queue
and the workers: exports between a few writes and lists. Creates and deletes are balanced
closely enough that an account's todo count stays bounded over a long run (the users also cap
it, see ``loadtests/users.py``).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

Action = Literal[
    "list",  # GET /api/todos/ (first page)
    "list_page",  # GET /api/todos/?page=N
    "list_filtered",  # GET /api/todos/?completed=true|false
    "search",  # GET /api/todos/?search=WORD
    "retrieve",  # GET /api/todos/{id}/
    "create",  # POST /api/todos/
    "update",  # PATCH /api/todos/{id}/ {"title"}
    "complete",  # PATCH /api/todos/{id}/ {"completed": true}
    "delete",  # DELETE /api/todos/{id}/
    "export",  # POST /api/todos/exports/, GET .../{id}/ until done, GET .../{id}/download/
]
READ_ACTIONS: frozenset[Action] = frozenset(
    {"list", "list_page", "list_filtered", "search", "retrieve"}
)


@dataclass(frozen=True)
class Mix:
    """Relative weights of the actions."""

    name: str
    weights: Mapping[Action, int]

    @property
    def read_share(self) -> float:
        """The share of actions that only read."""
        total = sum(self.weights.values())
        return sum(w for action, w in self.weights.items() if action in READ_ACTIONS) / total

    @cached_property
    def _draw(self) -> tuple[tuple[Action, ...], tuple[int, ...]]:
        """The actions and their cumulative weights, computed once (``pick`` runs per task)."""
        return tuple(self.weights), tuple(itertools.accumulate(self.weights.values()))

    def pick(self, rng: random.Random) -> Action:
        """One action, drawn by weight."""
        actions, cum_weights = self._draw
        return rng.choices(actions, cum_weights=cum_weights)[0]


MIXES: dict[str, Mix] = {
    "read": Mix(
        "read",
        {
            "list": 30,
            "list_page": 10,
            "list_filtered": 10,
            "search": 10,
            "retrieve": 30,
            "create": 4,
            "update": 2,
            "complete": 2,
            "delete": 2,
            # about one action in a hundred: each one holds its user for the job's duration
            "export": 1,
        },
    ),
    "write": Mix(
        "write",
        {
            "list": 10,
            "list_page": 2,
            "list_filtered": 2,
            "search": 2,
            "retrieve": 9,
            "create": 25,
            "update": 15,
            "complete": 15,
            "delete": 20,
        },
    ),
    "exports": Mix(
        "exports",
        {
            "list": 10,
            "create": 5,
            "delete": 3,
            "export": 10,
        },
    ),
}

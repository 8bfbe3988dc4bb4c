"""Limits a GraphQL document must keep before it runs: depth, aliases, tokens, cost.

One validation rule walks each operation once (fragments followed, each at most once per
path) and reports ``QUERY_TOO_COMPLEX`` when the operation is nested deeper than
``GRAPHQL_MAX_DEPTH``, uses more than ``GRAPHQL_MAX_ALIASES`` aliases, or costs more than
``GRAPHQL_MAX_COMPLEXITY``: each field costs 1, and what a page's ``items`` select costs once
per item of the page it asks for (``pageSize``: its literal value, the default 20,
or the maximum 100 when it comes from a variable). The token limit is graphql-core's parser
option (as Strawberry's ``MaxTokensLimiter`` sets it): a huge document is refused before it is
parsed whole. Introspection fields (``__schema``, ``__type``...) are left out of depth and cost:
introspection is switched on or off as a whole (``GRAPHQL_INTROSPECTION``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from graphql import (
    ASTValidationRule,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
)
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import SchemaExtension

from app.api.pagination import PageNumberPagination
from app.graphql.errors import QUERY_TOO_COMPLEX

PAGE_SIZE_ARGUMENT = "pageSize"
ITEMS_FIELD = "items"  # the list inside a page
DEFAULT_PAGE_SIZE = PageNumberPagination.page_size
MAX_PAGE_SIZE = PageNumberPagination.max_page_size


@dataclass(frozen=True)
class GraphQLLimits:
    """The configured limits (settings ``GRAPHQL_*``)."""

    max_depth: int
    max_aliases: int
    max_tokens: int
    max_complexity: int
    introspection: bool

    @classmethod
    def from_settings(cls) -> GraphQLLimits:
        """The limits the settings name now."""
        return cls(
            max_depth=settings.GRAPHQL_MAX_DEPTH,
            max_aliases=settings.GRAPHQL_MAX_ALIASES,
            max_tokens=settings.GRAPHQL_MAX_TOKENS,
            max_complexity=settings.GRAPHQL_MAX_COMPLEXITY,
            introspection=settings.GRAPHQL_INTROSPECTION,
        )


@dataclass
class Cost:
    """What one operation asks for."""

    depth: int = 0
    aliases: int = 0
    complexity: int = 0


def _page_size(field: FieldNode) -> int:
    """How many items a paginated field asks for (its ``pageSize``, bounded as REST is)."""
    for argument in field.arguments or ():
        if argument.name.value == PAGE_SIZE_ARGUMENT:
            value = argument.value
            if isinstance(value, IntValueNode):
                return max(1, min(int(value.value), MAX_PAGE_SIZE))
            return MAX_PAGE_SIZE  # a variable: assume the most it can be
    return DEFAULT_PAGE_SIZE


def measure(
    selection_set: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    *,
    depth: int = 0,
    seen: frozenset[str] = frozenset(),
    items: int = 1,
) -> Cost:
    """The depth, aliases and cost of ``selection_set`` (at ``depth``); ``items`` is how many
    times what an ``items`` field here selects is paid for (the page size of a page)."""
    cost = Cost(depth=depth)
    if selection_set is None:
        return cost
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            name = selection.name.value
            if name.startswith("__"):  # introspection: allowed or refused as a whole
                cost.aliases += 1 if selection.alias else 0
                continue
            page = _page_size(selection) if _is_paginated(selection) else 1
            inner = measure(
                selection.selection_set, fragments, depth=depth + 1, seen=seen, items=page
            )
            cost.depth = max(cost.depth, inner.depth)
            cost.aliases += inner.aliases + (1 if selection.alias else 0)
            cost.complexity += 1 + (items if name == ITEMS_FIELD else 1) * inner.complexity
            continue
        if isinstance(selection, FragmentSpreadNode):
            fragment_name = selection.name.value
            fragment = fragments.get(fragment_name)
            if fragment is None or fragment_name in seen:  # unknown or cyclic: others report it
                continue
            inner = measure(
                fragment.selection_set,
                fragments,
                depth=depth,
                seen=seen | {fragment_name},
                items=items,
            )
        elif isinstance(selection, InlineFragmentNode):
            inner = measure(selection.selection_set, fragments, depth=depth, seen=seen, items=items)
        else:  # pragma: no cover  # graphql-core has no other selection kind
            continue
        cost.depth = max(cost.depth, inner.depth)
        cost.aliases += inner.aliases
        cost.complexity += inner.complexity
    return cost


def _is_paginated(field: FieldNode) -> bool:
    """A field that returns a page of items (it takes ``pageSize``)."""
    return field.name.value == "todos"


@functools.cache
def cost_rule(limits: GraphQLLimits) -> type[ValidationRule]:
    """A validation rule reporting ``QUERY_TOO_COMPLEX`` for operations over ``limits``."""

    class CostRule(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            fragments = {
                definition.name.value: definition
                for definition in self.context.document.definitions
                if isinstance(definition, FragmentDefinitionNode)
            }
            cost = measure(node.selection_set, fragments)
            for problem in _problems(cost, limits):
                self.report_error(
                    GraphQLError(problem, node, extensions={"code": QUERY_TOO_COMPLEX})
                )

    return CostRule


def _problems(cost: Cost, limits: GraphQLLimits) -> list[str]:
    problems = []
    if cost.depth > limits.max_depth:
        problems.append(f"Query depth {cost.depth} exceeds the maximum of {limits.max_depth}.")
    if cost.aliases > limits.max_aliases:
        problems.append(f"{cost.aliases} aliases exceed the maximum of {limits.max_aliases}.")
    if cost.complexity > limits.max_complexity:
        problems.append(
            f"Query complexity {cost.complexity} exceeds the maximum of {limits.max_complexity}."
        )
    return problems


class OperationLimits(SchemaExtension):
    """The limits as a Strawberry extension, read from the settings for each operation: the
    parser's token limit, the cost rule and, with introspection off, graphql-core's rule that
    refuses it (a validation error)."""

    def on_operation(self) -> Iterator[None]:
        limits = GraphQLLimits.from_settings()
        rules: list[type[ASTValidationRule]] = [cost_rule(limits)]
        if not limits.introspection:
            rules.append(NoSchemaIntrospectionCustomRule)
        context = self.execution_context
        context.parse_options["max_tokens"] = limits.max_tokens
        context.validation_rules = (*context.validation_rules, *rules)
        yield

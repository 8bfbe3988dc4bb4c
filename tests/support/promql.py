"""The metric names a PromQL expression reads (enough of PromQL for our rules and dashboards).

Not a parser: string literals, label matchers, range/subquery brackets and grouping clauses
are cut out, then every remaining identifier that is not a function call, keyword or number
part is a metric name.
"""

from __future__ import annotations

import re

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_BRACKETS = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE
)
_IDENTIFIER = re.compile(r"(?<![\w.:])[a-zA-Z_:][a-zA-Z0-9_:]*(?![\w:]|\s*\()")
_KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring"}
    | {"group_left", "group_right", "inf", "nan", "atan2"}
)
# Series Prometheus itself makes (alert state, scrape health), not the scraped app.
PROMETHEUS_SERIES = frozenset(
    {"ALERTS", "ALERTS_FOR_STATE", "up", "scrape_duration_seconds", "scrape_samples_scraped"}
)


def metric_names(expr: str) -> set[str]:
    """Every metric name ``expr`` selects."""
    text = _STRINGS.sub('""', expr)
    text = _MATCHERS.sub(" ", text)
    text = _BRACKETS.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    return {
        name
        for name in _IDENTIFIER.findall(text)
        if name.lower() not in _KEYWORDS and not name.startswith("__")
    }


def is_recorded(name: str) -> bool:
    """True for a recording rule's name (level:metric:operations has colons)."""
    return ":" in name

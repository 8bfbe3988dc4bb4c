"""Every PromQL query of a dashboard, and Grafana variable substitution, for tests.

Pure helpers: the live test imports them to run each panel query against a real Prometheus.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

# `${name}`, `${name:format}` or `$name` (names include Grafana's `__rate_interval` etc.).
_VARIABLE = re.compile(r"\$\{(?P<braced>\w+)(?::[^}]*)?\}|\$(?P<bare>\w+)")


@dataclass(frozen=True)
class PanelQuery:
    """One target of one panel of a dashboard."""

    dashboard_uid: str
    panel_title: str
    ref_id: str
    expr: str


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels") or [])


def panel_queries(dashboard: dict[str, Any]) -> list[PanelQuery]:
    """Every target with an `expr` in `dashboard` (dashboard JSON), panels nested in rows too."""
    uid = str(dashboard.get("uid", ""))
    return [
        PanelQuery(uid, str(panel.get("title", "")), str(target.get("refId", "")), target["expr"])
        for panel in _panels(dashboard.get("panels") or [])
        for target in panel.get("targets") or []
        if target.get("expr")
    ]


def substitute(expr: str, variables: Mapping[str, str]) -> str:
    """Replace `$var`, `${var}` and `${var:format}` by `variables[var]` (keys without `$`).

    Grafana's built-ins are ordinary keys: `__rate_interval`, `__interval`, `__range`.
    Variables missing from the mapping are left as they are.
    """

    def replace(match: re.Match[str]) -> str:
        name = match.group("braced") or match.group("bare")
        return variables.get(name, match.group(0))

    return _VARIABLE.sub(replace, expr)

"""A synthetic stand-in for the community django-mixin's rendered alerts (shared by the tests).

The mixin has no licence, so this repository carries none of its files
(observability/django-mixin/README.md). ``SYNTHETIC_ALERTS`` is written here, for the tests:
upstream's shape (groups of rules with its four alert names, labels and annotations) and the
defaults of its ``config.libsonnet`` where the generator
(observability/prometheus/django_mixin_rules.py) looks for them: the ``job="django"`` selector,
the ignored-views regex, ``[5m]``/``[10m]`` windows, ``> 5`` thresholds, the severities and
``for`` durations. Expressions and wording are this project's own; they mean what the alert
names say, so the project's promtool tests (observability/django-mixin/promtool_test.yml) pass
on them too.
"""

from __future__ import annotations

from typing import Any

import yaml

from observability.prometheus import django_mixin_rules as mixin
from observability.slo import load_slo

RESPONSES = "django_http_responses_total_by_status_view_method_total"
DEFAULT_VIEWS = mixin.UPSTREAM_IGNORED_VIEWS


def _ratio(status: str) -> str:
    """Percent of one view's responses with a ``status`` class over 5 minutes, above 5."""
    selected = f'job="django", view!~"{DEFAULT_VIEWS}"'
    return (
        f'100 * sum by (job, view) (rate({RESPONSES}{{{selected}, status=~"{status}.."}}[5m]))\n'
        f"  / sum by (job, view) (rate({RESPONSES}{{{selected}}}[5m]))\n"
        "> 5\n"
    )


def _ratio_description(status: str) -> str:
    return (
        f"More than 5% of the answers of {{{{ $labels.view }}}} ({{{{ $labels.job }}}}) were "
        f"{status}xx over the past 5m."
    )


SYNTHETIC_ALERTS: dict[str, Any] = {
    "groups": [
        {
            "name": "django-synthetic",
            "rules": [
                {
                    "alert": "DjangoMigrationsUnapplied",
                    "expr": 'max by (job) (django_migrations_unapplied_total{job="django"}) > 0\n',
                    "for": "15m",
                    "labels": {"severity": "warning"},
                    "annotations": {
                        "summary": "Synthetic: migrations waiting.",
                        "description": "{{ $labels.job }} runs code with unapplied migrations.",
                    },
                },
                {
                    "alert": "DjangoDatabaseException",
                    "expr": (
                        "sum by (job, type) "
                        '(increase(django_db_errors_total{job="django"}[10m])) > 0\n'
                    ),
                    "labels": {"severity": "info"},
                    "annotations": {
                        "summary": "Synthetic: a database error.",
                        "description": "{{ $labels.job }} saw a {{ $labels.type }}.",
                    },
                },
                {
                    "alert": "DjangoHighHttp4xxErrorRate",
                    "expr": _ratio("4"),
                    "for": "1m",
                    "labels": {"severity": "warning"},
                    "annotations": {
                        "summary": "Synthetic: many client errors.",
                        "description": _ratio_description("4"),
                    },
                },
                {
                    "alert": "DjangoHighHttp5xxErrorRate",
                    "expr": _ratio("5"),
                    "for": "1m",
                    "labels": {"severity": "warning"},
                    "annotations": {
                        "summary": "Synthetic: many server errors.",
                        "description": _ratio_description("5"),
                    },
                },
            ],
        }
    ]
}


def synthetic_text(document: dict[str, Any] | None = None) -> str:
    """``document`` (default: ``SYNTHETIC_ALERTS``) as an upstream file's text."""
    return yaml.safe_dump(document or SYNTHETIC_ALERTS, sort_keys=False, width=200)


def overrides_text() -> str:
    """The project's overrides file as committed."""
    return mixin.OVERRIDES_FILE.read_text(encoding="utf-8")


def fitted_alerts(
    upstream: str | None = None, overrides: str | None = None
) -> dict[str, dict[str, Any]]:
    """The generator's alerts by name, for ``upstream`` (default: the synthetic document) and
    ``overrides`` (default: the committed file)."""
    text = mixin.render(
        upstream or synthetic_text(), overrides or overrides_text(), load_slo().links
    )
    return {
        rule["alert"]: rule for group in yaml.safe_load(text)["groups"] for rule in group["rules"]
    }

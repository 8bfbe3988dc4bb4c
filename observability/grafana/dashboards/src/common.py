"""What every Todo API dashboard shares: variables, links, the label selector and panel helpers.

Panels are declared as data (title, description, unit, queries) and laid out in rows on the
24-column grid by the SDK; the helpers set the things every panel must have (the
``${datasource}`` reference, a unit, a description) so a dashboard module cannot forget them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, Self, TypeVar, cast

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.builders import prometheus, stat, statetimeline, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import common as common_models
from grafana_foundation_sdk.models import dashboard as dashboard_models

from observability.slo import Slo

TAG = "todo-api"
DEFAULT_JOB = "todo-api"
PROMETHEUS_UID = "prometheus"
DATASOURCE = dashboard_models.DataSourceRef(type_val="prometheus", uid="${datasource}")
# Every raw-metric query carries these matchers; recorded SLO series are selected by `slo`.
SELECTOR = 'job="$job", instance=~"$instance"'
# The Celery worker's own scrape job (the jobs dashboard's worker metrics) and its default.
WORKER_SELECTOR = 'job="$worker_job", instance=~"$worker_instance"'
DEFAULT_WORKER_JOB = "todo-worker"
RATE = "[$__rate_interval]"  # the range of every rate() and increase()

# Colours of the Grafana palette, named once.
GREEN, YELLOW, ORANGE, RED, BLUE = "green", "yellow", "orange", "red", "blue"

Steps = Sequence[tuple[float | None, str]]
PanelBuilder = cogbuilder.Builder[dashboard_models.Panel]


def sel(*matchers: str) -> str:
    """The `{job="$job", instance=~"$instance", ...}` selector with extra `matchers` appended."""
    return "{" + ", ".join([SELECTOR, *matchers]) + "}"


def worker_sel(*matchers: str) -> str:
    """The worker's `{job="$worker_job", instance=~"$worker_instance", ...}` selector."""
    return "{" + ", ".join([WORKER_SELECTOR, *matchers]) + "}"


def sum_rate(metric: str, *matchers: str, by: str = "", worker: bool = False) -> str:
    """The per-second rate of counter `metric` (`sel(*matchers)`, or `worker_sel` with
    `worker`), summed (`by` labels)."""
    grouping = f"sum by ({by}) " if by else "sum"
    selector = worker_sel(*matchers) if worker else sel(*matchers)
    return f"{grouping}(rate({metric}{selector}{RATE}))"


def quantile(q: float, metric: str, by: str = "", *, worker: bool = False) -> str:
    """`histogram_quantile` of histogram `metric`'s buckets, grouped by `le` and `by`."""
    labels = f"{by}, le" if by else "le"
    return f"histogram_quantile({q}, {sum_rate(metric, by=labels, worker=worker)})"


@dataclass(frozen=True)
class Query:
    """One PromQL target of a panel: expression, legend and whether to fetch exemplars."""

    expr: str
    legend: str = "__auto"
    exemplar: bool = False
    instant: bool = False


@dataclass(frozen=True)
class Row:
    """A titled row of panels; the panels' widths should add up to multiples of 24."""

    title: str
    panels: Sequence[PanelBuilder] = field(default_factory=tuple)


Target = cogbuilder.Builder[cogvariants.Dataquery]


def _targets(queries: Sequence[Query]) -> list[Target]:
    targets: list[Target] = []
    for index, query in enumerate(queries):
        target = (
            prometheus.Dataquery()
            .expr(query.expr)
            .legend_format(query.legend)
            .ref_id(chr(ord("A") + index))
            .datasource(DATASOURCE)
            .exemplar(query.exemplar)
        )
        target = target.instant() if query.instant else target.range()
        # A Prometheus query is one of the data query variants a panel accepts.
        targets.append(cast(Target, target))
    return targets


def thresholds(steps: Steps) -> dashboard_builders.ThresholdsConfig:
    """Absolute thresholds from `(value, colour)` pairs; the first value is the base (None)."""
    return (
        dashboard_builders.ThresholdsConfig()
        .mode(dashboard_models.ThresholdsMode.ABSOLUTE)
        .steps([dashboard_models.Threshold(value=value, color=color) for value, color in steps])
    )


def value_text(mapping: dict[str, tuple[str, str]]) -> list[dashboard_models.ValueMapping]:
    """Value mappings from `{value: (text, colour)}`."""
    return [
        dashboard_models.ValueMap(
            options={
                value: dashboard_models.ValueMappingResult(text=text, color=color, index=index)
                for index, (value, (text, color)) in enumerate(mapping.items())
            }
        )
    ]


class _FieldPanel(Protocol):
    """The builder methods the time series, stat and state timeline panels share."""

    def title(self, title: str) -> Self: ...
    def description(self, description: str) -> Self: ...
    def datasource(self, datasource: dashboard_models.DataSourceRef) -> Self: ...
    def unit(self, unit: str) -> Self: ...
    def span(self, w: int) -> Self: ...
    def height(self, h: int) -> Self: ...
    def targets(self, targets: list[Target]) -> Self: ...
    def thresholds(
        self, thresholds: cogbuilder.Builder[dashboard_models.ThresholdsConfig]
    ) -> Self: ...
    def decimals(self, decimals: float) -> Self: ...
    def mappings(self, mappings: list[dashboard_models.ValueMapping]) -> Self: ...
    def min(self, min_val: float) -> Self: ...
    def max(self, max_val: float) -> Self: ...


FieldPanel = TypeVar("FieldPanel", bound=_FieldPanel)


def _panel(  # noqa: PLR0917  # the panels' own arguments, in their order
    panel: FieldPanel,
    title: str,
    description: str,
    unit: str,
    queries: Sequence[Query],
    width: int,
    height: int,
    steps: Steps | None,
) -> FieldPanel:
    """What every panel sets: title, description, the ``${datasource}``, unit, size, targets
    and thresholds (a green base when `steps` is None)."""
    return (
        panel.title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .span(width)
        .height(height)
        .targets(_targets(queries))
        .thresholds(thresholds(steps or [(None, GREEN)]))
    )


def _options(
    panel: FieldPanel,
    *,
    decimals: int | None = None,
    mappings: list[dashboard_models.ValueMapping] | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
) -> FieldPanel:
    """`panel` with the standard options that are given (None or empty: left unset)."""
    if decimals is not None:
        panel = panel.decimals(decimals)
    if mappings:
        panel = panel.mappings(mappings)
    if minimum is not None:
        panel = panel.min(minimum)
    if maximum is not None:
        panel = panel.max(maximum)
    return panel


def timeseries_panel(
    title: str,
    description: str,
    unit: str,
    queries: Sequence[Query],
    *,
    width: int = 12,
    height: int = 8,
    steps: Steps | None = None,
    minimum: float | None = 0,
    maximum: float | None = None,
    stacked: bool = False,
    bars: bool = False,
    decimals: int | None = None,
) -> timeseries.Panel:
    """A time series panel; `steps` become dashed threshold lines (green base when omitted)."""
    panel = (
        _panel(timeseries.Panel(), title, description, unit, queries, width, height, steps)
        .line_width(1)
        .fill_opacity(25 if stacked or bars else 10)
        .show_points(common_models.VisibilityMode.NEVER)
        .draw_style(
            common_models.GraphDrawStyle.BARS if bars else common_models.GraphDrawStyle.LINE
        )
        .legend(
            common_builders.VizLegendOptions()
            .display_mode(common_models.LegendDisplayMode.LIST)
            .placement(common_models.LegendPlacement.BOTTOM)
            .show_legend(True)
        )
        .tooltip(
            common_builders.VizTooltipOptions()
            .mode(common_models.TooltipDisplayMode.MULTI)
            .sort(common_models.SortOrder.DESCENDING)
        )
    )
    if steps:
        panel = panel.thresholds_style(
            common_builders.GraphThresholdsStyleConfig().mode(
                common_models.GraphThresholdsStyleMode.DASHED
            )
        )
    if stacked:
        panel = panel.stacking(
            common_builders.StackingConfig().mode(common_models.StackingMode.NORMAL)
        )
    return _options(panel, decimals=decimals, minimum=minimum, maximum=maximum)


def stat_panel(
    title: str,
    description: str,
    unit: str,
    queries: Sequence[Query],
    *,
    width: int = 6,
    height: int = 4,
    steps: Steps | None = None,
    decimals: int | None = None,
    graph: bool = True,
    mappings: list[dashboard_models.ValueMapping] | None = None,
) -> stat.Panel:
    """A single-value panel showing the last value, coloured by `steps`."""
    panel = (
        _panel(stat.Panel(), title, description, unit, queries, width, height, steps)
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .graph_mode(
            common_models.BigValueGraphMode.AREA if graph else common_models.BigValueGraphMode.NONE
        )
        .color_mode(common_models.BigValueColorMode.VALUE)
        .text_mode(common_models.BigValueTextMode.AUTO)
    )
    return _options(panel, decimals=decimals, mappings=mappings)


def state_timeline_panel(
    title: str,
    description: str,
    unit: str,
    queries: Sequence[Query],
    *,
    width: int = 24,
    height: int = 8,
    steps: Steps | None = None,
    mappings: list[dashboard_models.ValueMapping] | None = None,
) -> statetimeline.Panel:
    """A state timeline (one lane per series), coloured by `steps` and `mappings`."""
    panel = (
        _panel(statetimeline.Panel(), title, description, unit, queries, width, height, steps)
        .show_value(common_models.VisibilityMode.NEVER)
        .merge_values(True)
        .color_scheme(
            dashboard_builders.FieldColor().mode(dashboard_models.FieldColorModeId.THRESHOLDS)
        )
    )
    return _options(panel, mappings=mappings)


def _job_and_instance(
    prefix: str,
    metric: str,
    default_job: str,
    *,
    labels: tuple[str, str],
    descriptions: tuple[str, str],
) -> list[cogbuilder.Builder[dashboard_models.VariableModel]]:
    """The ``<prefix>job`` and ``<prefix>instance`` variables of the Prometheus job whose
    targets serve ``metric``."""
    job, instance = f"{prefix}job", f"{prefix}instance"
    return [
        dashboard_builders.QueryVariable(job)
        .label(labels[0])
        .description(descriptions[0])
        .datasource(DATASOURCE)
        .query(f"label_values({metric}, job)")
        .current(
            dashboard_models.VariableOption(selected=True, text=default_job, value=default_job)
        )
        .refresh(dashboard_models.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dashboard_models.VariableSort.ALPHABETICAL_ASC),
        dashboard_builders.QueryVariable(instance)
        .label(labels[1])
        .description(descriptions[1])
        .datasource(DATASOURCE)
        .query(f'label_values({metric}{{job="${job}"}}, instance)')
        .current(dashboard_models.VariableOption(selected=True, text=["All"], value=["$__all"]))
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .refresh(dashboard_models.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dashboard_models.VariableSort.ALPHABETICAL_ASC),
    ]


def variables() -> list[cogbuilder.Builder[dashboard_models.VariableModel]]:
    """The `datasource`, `job` and `instance` variables every dashboard has."""
    return [
        dashboard_builders.DatasourceVariable("datasource")
        .label("Data source")
        .type("prometheus")
        .current(
            dashboard_models.VariableOption(selected=True, text="Prometheus", value="prometheus")
        ),
        *_job_and_instance(
            "",
            "django_http_requests_before_middlewares_total",
            DEFAULT_JOB,
            labels=("Job", "Instance"),
            descriptions=(
                "Prometheus job scraping the Todo API.",
                "Scrape targets (pods / hosts) of the job; All selects every one.",
            ),
        ),
    ]


def worker_variables() -> list[cogbuilder.Builder[dashboard_models.VariableModel]]:
    """The `worker_job` and `worker_instance` variables of a dashboard on the Celery worker's
    metrics (its own scrape job, port WORKER_METRICS_PORT)."""
    return _job_and_instance(
        "worker_",
        "celery_worker_up",
        DEFAULT_WORKER_JOB,
        labels=("Worker job", "Worker instance"),
        descriptions=(
            "Prometheus job scraping the Celery worker's metrics endpoint.",
            "Worker scrape targets (pods / hosts); All selects every one.",
        ),
    )


def dashboard_links() -> dashboard_builders.DashboardLink:
    """A drop-down of the other Todo API dashboards, keeping time range and variables."""
    return (
        dashboard_builders.DashboardLink("Todo API dashboards")
        .type(dashboard_models.DashboardLinkType.DASHBOARDS)
        .tags([TAG])
        .as_dropdown(True)
        .include_vars(True)
        .keep_time(True)
        .target_blank(False)
        .icon("external link")
        .tooltip("")
        .url("")
    )


def dashboard(
    uid: str,
    title: str,
    description: str,
    rows: Sequence[Row],
    *,
    worker: bool = False,
) -> dashboard_models.Dashboard:
    """Assemble a Todo API dashboard: fixed settings, variables (the worker's too with
    `worker`), links, rows; panel ids 1..n."""
    builder = (
        dashboard_builders.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags([TAG])
        .timezone("browser")
        .time("now-1h", "now")
        .refresh("30s")
        .readonly()
        .tooltip(dashboard_models.DashboardCursorSync.CROSSHAIR)
        .link(dashboard_links())
        .variables(variables() + (worker_variables() if worker else []))
    )
    for row in rows:
        builder = builder.with_row(dashboard_builders.Row(row.title))
        for panel in row.panels:
            builder = builder.with_panel(panel)
    model = builder.build()
    for number, panel_model in enumerate(model.panels or [], start=1):
        panel_model.id_val = number
    return model


class Build(Protocol):
    """A dashboard module's ``build``: its dashboard for `slo` (default: the SLO file's)."""

    def __call__(self, slo: Slo | None = None) -> dashboard_models.Dashboard: ...


def slo_free_build(uid: str, title: str, description: str, *rows: Callable[[], Row]) -> Build:
    """The ``build`` of a dashboard that shows no SLO numbers: it accepts `slo` (and ignores
    it) so every dashboard builds alike; `rows` make the rows, in order."""

    def build(slo: Slo | None = None) -> dashboard_models.Dashboard:
        return dashboard(uid, title, description, [row() for row in rows])

    return build

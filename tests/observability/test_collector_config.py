"""The OpenTelemetry Collector configuration and the trace path app -> collector -> Tempo.

Offline checks of observability/otel-collector/config.yaml: every component a pipeline
names is defined, memory_limiter runs first and batch last, OTLP is received over gRPC and
HTTP on the ports the app and DESIGN.md use, traces leave for Tempo at an endpoint taken from
the environment, and the collector's own metrics are where Prometheus scrapes them.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
COLLECTOR_CONFIG = REPO / "observability" / "otel-collector" / "config.yaml"
COMPOSE_FILE = REPO / "docker-compose.yml"
TEMPO_CONFIG = REPO / "observability" / "tempo" / "tempo.yaml"
PROMETHEUS_CONFIG = REPO / "observability" / "prometheus" / "prometheus.yml"

SECTIONS = {"receivers": "receivers", "processors": "processors", "exporters": "exporters"}
_ENV_PLACEHOLDER = re.compile(r"^\$\{env:[A-Z_][A-Z0-9_]*(:-[^}]*)?\}$")


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path} is not a mapping"
    return data


def collector_config() -> dict[str, Any]:
    """The collector configuration as data."""
    return _load(COLLECTOR_CONFIG)


def pipeline_problems(config: dict[str, Any]) -> list[str]:
    """What is wrong with the pipelines: undefined components, processor order, emptiness."""
    problems: list[str] = []
    service = config.get("service", {})
    pipelines = service.get("pipelines") or {}
    if not pipelines:
        problems.append("no pipelines")
    for extension in service.get("extensions", []):
        if extension not in (config.get("extensions") or {}):
            problems.append(f"extension {extension} is not defined")
    for name, pipeline in pipelines.items():
        for key, section in SECTIONS.items():
            defined = config.get(section) or {}
            for component in pipeline.get(key, []):
                if component not in defined:
                    problems.append(f"{name}: {key[:-1]} {component} is not defined")
        for key in ("receivers", "exporters"):
            if not pipeline.get(key):
                problems.append(f"{name}: no {key}")
        processors = [p.split("/")[0] for p in pipeline.get("processors", [])]
        if not processors or processors[0] != "memory_limiter":
            problems.append(f"{name}: memory_limiter is not the first processor")
        if not processors or processors[-1] != "batch":
            problems.append(f"{name}: batch is not the last processor")
    return problems


def test_every_pipeline_component_is_defined_and_processors_are_in_order() -> None:
    assert pipeline_problems(collector_config()) == []


def test_the_pipeline_check_finds_undefined_components_and_a_wrong_order() -> None:
    broken = copy.deepcopy(collector_config())
    traces = broken["service"]["pipelines"]["traces"]
    traces["processors"] = ["batch", "memory_limiter"]
    traces["exporters"].append("otlp/nowhere")
    broken["service"]["extensions"].append("pprof")
    assert sorted(pipeline_problems(broken)) == [
        "extension pprof is not defined",
        "traces: batch is not the last processor",
        "traces: exporter otlp/nowhere is not defined",
        "traces: memory_limiter is not the first processor",
    ]


def test_there_is_a_traces_pipeline() -> None:
    assert "traces" in collector_config()["service"]["pipelines"]


def test_otlp_is_received_over_grpc_and_http_on_all_interfaces() -> None:
    protocols = collector_config()["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"] == "0.0.0.0:4317"
    assert protocols["http"]["endpoint"] == "0.0.0.0:4318"


def test_the_app_exports_to_the_collectors_http_receiver() -> None:
    compose = _load(COMPOSE_FILE)
    environment = compose["services"]["app"]["environment"]
    assert environment["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318"
    assert environment["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
    assert "otel-collector" in compose["services"]


def test_memory_limiter_fits_inside_the_containers_memory_limit() -> None:
    limiter = collector_config()["processors"]["memory_limiter"]
    mem_limit = _load(COMPOSE_FILE)["services"]["otel-collector"]["mem_limit"]
    container_mib = int(str(mem_limit).rstrip("m"))
    assert limiter["check_interval"]
    assert limiter["spike_limit_mib"] < limiter["limit_mib"] < container_mib


def test_traces_go_to_tempo_at_an_endpoint_from_the_environment() -> None:
    config = collector_config()
    exporters = config["service"]["pipelines"]["traces"]["exporters"]
    assert exporters == ["otlp/tempo"]
    tempo = config["exporters"]["otlp/tempo"]
    assert tempo["endpoint"] == "${env:TEMPO_OTLP_ENDPOINT}"
    compose_env = _load(COMPOSE_FILE)["services"]["otel-collector"]["environment"]
    assert compose_env["TEMPO_OTLP_ENDPOINT"] == "${TEMPO_OTLP_ENDPOINT:-tempo:4317}"
    # ... where Tempo listens for OTLP gRPC.
    tempo_otlp = _load(TEMPO_CONFIG)["distributor"]["receivers"]["otlp"]["protocols"]
    assert tempo_otlp["grpc"]["endpoint"] == "0.0.0.0:4317"


def test_every_exporter_endpoint_comes_from_the_environment() -> None:
    for name, exporter in collector_config()["exporters"].items():
        endpoint = (exporter or {}).get("endpoint")
        if endpoint is not None:
            assert _ENV_PLACEHOLDER.match(endpoint), f"{name}: {endpoint}"


def test_the_debug_exporter_is_off_by_default() -> None:
    config = collector_config()
    for name, pipeline in config["service"]["pipelines"].items():
        assert not any(e.split("/")[0] == "debug" for e in pipeline["exporters"]), name


def test_the_collectors_own_metrics_are_served_where_prometheus_scrapes_them() -> None:
    readers = collector_config()["service"]["telemetry"]["metrics"]["readers"]
    exporters = [reader["pull"]["exporter"]["prometheus"] for reader in readers]
    served = [(exporter["host"], exporter["port"]) for exporter in exporters]
    assert ("0.0.0.0", 8888) in served  # noqa: S104 (the collector listens in its container)
    jobs = {job["job_name"]: job for job in _load(PROMETHEUS_CONFIG)["scrape_configs"]}
    assert jobs["otel-collector"]["static_configs"][0]["targets"] == ["otel-collector:8888"]


def test_the_health_check_extension_is_enabled() -> None:
    config = collector_config()
    assert "health_check" in config["service"]["extensions"]
    assert config["extensions"]["health_check"]["endpoint"].endswith(":13133")

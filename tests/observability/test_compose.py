"""The docker-compose stack, its Prometheus configuration and the container image, offline.

There is no Docker engine here, so the files are checked for what `docker compose up` relies
on: docker-compose.yml validates against the Compose Specification schema (vendored in
data/, see data/README.md), images are pinned, memory is bounded, mounts exist, start order
waits for health, secrets come from .env, and `promtool check config` accepts prometheus.yml.
"""

from __future__ import annotations

import copy
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from observability.slo import load_slo
from tests.support.backing_services import run_tool

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
DOCKERFILE = REPO / "Dockerfile"
PROMETHEUS_CONFIG = REPO / "observability" / "prometheus" / "prometheus.yml"
PROMETHEUS_RULES = REPO / "observability" / "prometheus" / "rules"
SCHEMA_FILE = Path(__file__).resolve().parent / "data" / "compose-spec.json"

GIB = 1024**3
# Long-running services only (one-shots exit before the app starts): 3 GiB for the API and
# its backends, 256 MiB more since the jobs worker and beat.
DEFAULT_PROFILE_MEMORY_BUDGET = 3 * GIB + 256 * 2**20
METRICS_PORT = 9464
WORKER_METRICS_PORT = 9465
EXPORT_DIR = "/var/lib/todo/exports"
# The Celery processes (app/jobs/commands.py): the app's image and environment.
JOB_SERVICES = ("worker", "beat")
LOAD_PROFILE = "load"

# Services that run once and exit: no healthcheck to wait for, and restart "no".
ONE_SHOT_SERVICES = {"migrate"}
# Long-running services without a healthcheck, and why.
HEALTHCHECK_EXEMPTIONS = {
    "migrate": "one-shot: runs the migrations and exits; `app` waits for its exit code",
    "otel-collector": "the contrib image is built FROM scratch (no shell, no HTTP client); its "
    "health_check extension on :13133 is for probes from outside the container",
    "locust-worker": "serves no port; the Locust master reports workers that are missing",
    "traffic": "headless Locust: serves no port; restarted if it exits",
}
# The always-on background client: the only Locust service outside the `load` profile.
BACKGROUND_TRAFFIC = "traffic"

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}, ${NAME:+alt};
# `$${...}` is an escaped dollar (expanded in the container, not by compose).
_INTERPOLATION = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])[^}]*)?\}")
_MEMORY = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


@cache
def _compose_text() -> str:
    return COMPOSE_FILE.read_text(encoding="utf-8")


def load_compose() -> dict[str, Any]:
    """docker-compose.yml as data (YAML anchors and merge keys resolved); a fresh copy."""
    data = yaml.safe_load(_compose_text())
    assert isinstance(data, dict), "docker-compose.yml is not a mapping"
    return data


def services() -> dict[str, dict[str, Any]]:
    """The compose services by name."""
    found = load_compose()["services"]
    assert isinstance(found, dict)
    return found


def default_profile_services() -> dict[str, dict[str, Any]]:
    """Services `docker compose up` starts without --profile."""
    return {name: spec for name, spec in services().items() if not spec.get("profiles")}


def memory_bytes(value: str | int) -> int:
    """Bytes of a compose memory value: ``512m``, ``1g``, ``256MiB``, or a plain number."""
    if isinstance(value, int):
        return value
    match = _MEMORY.match(value.strip())
    if not match:
        raise ValueError(f"{value!r} is not a memory size")
    number, unit = match.groups()
    return int(float(number) * _UNITS[unit.lower()])


def memory_limit(spec: dict[str, Any]) -> int | None:
    """The service's memory limit in bytes (``mem_limit`` or ``deploy.resources.limits``)."""
    value = spec.get("mem_limit")
    if value is None:
        value = spec.get("deploy", {}).get("resources", {}).get("limits", {}).get("memory")
    return None if value is None else memory_bytes(value)


def interpolated_variables(text: str) -> dict[str, bool]:
    """Variables compose interpolates in ``text``, each mapped to whether it has a default."""
    found: dict[str, bool] = {}
    for match in _INTERPOLATION.finditer(text):
        name, operator = match.group(1), match.group(2) or ""
        has_default = operator.lstrip(":") in {"-", "+"}
        found[name] = found.get(name, True) and has_default
    return found


def env_file_values(path: Path) -> dict[str, str]:
    """``NAME=value`` assignments of a dotenv file (comments and blank lines skipped)."""
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        name, separator, value = stripped.partition("=")
        assert separator, f"{path.name}: {line!r} is not NAME=value"
        values[name.strip()] = value.strip()
    return values


def bind_sources(spec: dict[str, Any]) -> list[str]:
    """Host paths the service bind-mounts (short and long volume syntax)."""
    sources: list[str] = []
    for volume in spec.get("volumes", []):
        if isinstance(volume, str):
            source = volume.split(":", 1)[0]
            if source.startswith((".", "/", "~")):
                sources.append(source)
        elif volume.get("type") == "bind":
            sources.append(str(volume["source"]))
    return sources


def image_tag(image: str) -> str | None:
    """The tag of an image reference (``None`` without one); digests count as pins."""
    if "@sha256:" in image:
        return image.rsplit("@", 1)[1]
    last = image.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def published_ports(spec: dict[str, Any]) -> list[tuple[str, int]]:
    """(host address, container port) of every published port; address "" means all."""
    published: list[tuple[str, int]] = []
    for port in spec.get("ports", []):
        if isinstance(port, dict):
            published.append((str(port.get("host_ip", "")), int(port["target"])))
            continue
        parts = str(port).rsplit(":", 2)
        container = int(parts[-1].split("/")[0])
        host_ip = parts[0] if len(parts) == 3 else ""
        published.append((host_ip, container))
    return published


def _schema_errors(document: dict[str, Any]) -> list[str]:
    schema = yaml.safe_load(SCHEMA_FILE.read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema)
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
        for error in validator.iter_errors(document)
    ]


# ---------------------------------------------------------------- the compose file


def test_the_vendored_schema_is_a_draft_7_compose_schema() -> None:
    schema = yaml.safe_load(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert "draft-07" in schema["$schema"]
    assert schema["title"] == "Compose Specification"
    jsonschema.Draft7Validator.check_schema(schema)


def test_compose_file_validates_against_the_compose_spec_schema() -> None:
    assert _schema_errors(load_compose()) == []


def test_the_schema_check_rejects_a_broken_service() -> None:
    broken = load_compose()
    broken["services"]["app"]["depends_on"]["migrate"]["condition"] = "service_finished"
    broken["services"]["redis"]["mem_limit"] = {"size": "64m"}
    broken["services"]["postgres"]["restart_policy"] = "always"
    errors = _schema_errors(broken)
    assert len(errors) == 3, errors


def test_compose_file_has_no_version_key() -> None:
    assert "version" not in load_compose()


def test_every_image_is_pinned_to_a_tag_other_than_latest() -> None:
    for name, spec in services().items():
        image = spec.get("image")
        assert image, f"{name}: no image (a built service names its image too)"
        tag = image_tag(image)
        assert tag, f"{name}: {image} has no tag"
        assert tag != "latest", f"{name}: {image} is not pinned"


def test_images_built_inline_start_from_pinned_images() -> None:
    for name, spec in services().items():
        inline = spec.get("build", {}).get("dockerfile_inline", "") if "build" in spec else ""
        for base in re.findall(r"^FROM\s+(\S+)", inline, flags=re.MULTILINE):
            assert image_tag(base) not in {None, "latest"}, f"{name}: FROM {base}"


def test_every_service_has_a_memory_limit() -> None:
    missing = [name for name, spec in services().items() if memory_limit(spec) is None]
    assert missing == []


def test_memory_limits_of_the_default_profile_add_up_to_at_most_3_25_gib() -> None:
    total = 0
    for name, spec in default_profile_services().items():
        if name in ONE_SHOT_SERVICES:
            continue
        limit = memory_limit(spec)
        assert limit is not None
        total += limit * int(spec.get("deploy", {}).get("replicas", 1))
    assert total <= DEFAULT_PROFILE_MEMORY_BUDGET, f"{total / 2**20:.0f} MiB"


def test_memory_sizes_parse_like_compose() -> None:
    assert memory_bytes("512m") == 512 * 2**20
    assert memory_bytes("1g") == GIB
    assert memory_bytes("256MiB") == 256 * 2**20
    assert memory_bytes(1024) == 1024
    with pytest.raises(ValueError, match="not a memory size"):
        memory_bytes("lots")


def test_every_bind_mounted_relative_path_exists_in_the_repo() -> None:
    missing = []
    for name, spec in services().items():
        for source in bind_sources(spec):
            if source.startswith(".") and not (REPO / source).exists():
                missing.append(f"{name}: {source}")
        context = spec.get("build", {}).get("context") if "build" in spec else None
        if context and not (REPO / context).is_dir():
            missing.append(f"{name}: build context {context}")
    assert missing == []


def test_only_the_log_shipper_mounts_a_host_path_outside_the_repo() -> None:
    outside = {
        name: source
        for name, spec in services().items()
        for source in bind_sources(spec)
        if not source.startswith(".")
    }
    assert outside == {"alloy": "/var/run/docker.sock"}


def test_every_depends_on_names_a_condition() -> None:
    for name, spec in services().items():
        depends_on = spec.get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: depends_on is a list without conditions"
        for dependency, options in depends_on.items():
            assert dependency in services(), f"{name} depends on unknown {dependency}"
            assert options.get("condition"), f"{name} -> {dependency}: no condition"


def test_depends_on_conditions_fit_what_the_dependency_offers() -> None:
    for name, spec in services().items():
        for dependency, options in spec.get("depends_on", {}).items():
            target = services()[dependency]
            condition = options["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in target, f"{name} waits for {dependency}'s health"
            if condition == "service_completed_successfully":
                assert dependency in ONE_SHOT_SERVICES, f"{name} waits for {dependency} to exit"


def test_the_app_starts_after_the_migration_succeeded_and_its_stores_are_healthy() -> None:
    depends_on = services()["app"]["depends_on"]
    assert depends_on["migrate"]["condition"] == "service_completed_successfully"
    assert depends_on["postgres"]["condition"] == "service_healthy"
    assert depends_on["redis"]["condition"] == "service_healthy"


def test_one_shot_services_do_not_restart() -> None:
    for name in ONE_SHOT_SERVICES:
        assert services()[name].get("restart") == "no"


def test_locust_services_run_only_in_the_load_profile() -> None:
    for name, spec in services().items():
        is_locust = "locust" in name or "locust" in spec.get("image", "")
        if is_locust and name != BACKGROUND_TRAFFIC:
            assert spec.get("profiles") == [LOAD_PROFILE], name
        else:
            assert not spec.get("profiles"), f"{name} is not in the default profile"
    assert {"locust-master", "locust-worker"} <= set(services())


def test_background_traffic_is_gentle_and_headless_in_the_default_profile() -> None:
    spec = services()[BACKGROUND_TRAFFIC]
    assert not spec.get("profiles")
    assert "--headless" in spec["command"]
    assert int(spec["environment"]["LOCUST_USERS"]) <= 2


def test_locust_mounts_the_loadtests_package_the_slo_model_and_the_slo_file() -> None:
    for name in ("locust-master", "locust-worker", BACKGROUND_TRAFFIC):
        spec = services()[name]
        sources = bind_sources(spec)
        assert "./loadtests" in sources, name
        assert "./observability/slo.py" in sources, name
        assert "./observability/slo.yaml" in sources, name
        command = spec["command"]
        assert command[:2] == ["-f", "/mnt/locust/loadtests/locustfile.py"], name
    assert "8089" in str(services()["locust-master"]["ports"])


def test_every_long_running_service_has_a_healthcheck() -> None:
    assert set(HEALTHCHECK_EXEMPTIONS) <= set(services())
    missing = [
        name
        for name, spec in services().items()
        if name not in HEALTHCHECK_EXEMPTIONS and "healthcheck" not in spec
    ]
    assert missing == []


def test_env_example_defines_every_variable_compose_needs_without_a_default() -> None:
    variables = interpolated_variables(_compose_text())
    required = {name for name, has_default in variables.items() if not has_default}
    defined = env_file_values(ENV_EXAMPLE)
    assert required, "compose should require the secrets from .env"
    assert required - set(defined) == set()
    # Optional ones are documented there too, so users find every knob in one place.
    assert set(variables) - set(defined) == set()


def test_env_example_holds_no_secret_values() -> None:
    defined = env_file_values(ENV_EXAMPLE)
    for name in ("DJANGO_SECRET_KEY", "POSTGRES_PASSWORD", "GRAFANA_ADMIN_PASSWORD"):
        assert defined[name] == "", f"{name} must be empty in .env.example"
    assert "secrets.token_urlsafe" in ENV_EXAMPLE.read_text(encoding="utf-8")


def test_interpolation_parsing_tells_required_from_optional_variables() -> None:
    text = "${A} ${B:-x} ${C:?need C} ${D-y} $${E} ${B}"
    assert interpolated_variables(text) == {"A": False, "B": False, "C": False, "D": True}


def test_metrics_port_is_never_published_beyond_localhost() -> None:
    for name, spec in services().items():
        for host_ip, container_port in published_ports(spec):
            if container_port in (METRICS_PORT, WORKER_METRICS_PORT):
                assert host_ip == "127.0.0.1", f"{name} publishes metrics on {host_ip or '*'}"


def test_the_documented_ports_are_published() -> None:
    expected = {
        "app": 8000,
        "prometheus": 9090,
        "alertmanager": 9093,
        "grafana": 3000,
        "otel-collector": 4317,
        "locust-master": 8089,
    }
    for name, port in expected.items():
        assert port in {p for _, p in published_ports(services()[name])}, f"{name}: {port}"
    assert 4318 in {p for _, p in published_ports(services()["otel-collector"])}


def test_the_app_runs_read_only_with_tmpfs_for_tmp_and_the_metrics_directory() -> None:
    for name in ("app", "migrate"):
        spec = services()[name]
        assert spec["read_only"] is True, name
        mounted = {entry.split(":", 1)[0] for entry in spec["tmpfs"]}
        assert "/tmp" in mounted, name  # noqa: S108 (a tmpfs mount point, not a temp file)
        assert spec["environment"]["PROMETHEUS_MULTIPROC_DIR"] in mounted, name


def test_the_app_environment_wires_the_stack() -> None:
    environment = services()["app"]["environment"]
    assert environment["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318"
    assert environment["OTEL_SERVICE_NAME"] == "todo-api"
    assert environment["DEPLOYMENT_ENVIRONMENT"] == "compose"
    assert environment["WEB_CONCURRENCY"].endswith("2}") or environment["WEB_CONCURRENCY"] == "2"
    assert "@postgres:5432/" in environment["DATABASE_URL"]
    assert environment["REDIS_URL"].startswith("redis://redis:6379/")
    assert environment["DJANGO_SECURE_SSL_REDIRECT"] == "false"
    assert environment["DJANGO_SECRET_KEY"].startswith("${DJANGO_SECRET_KEY:?")
    assert environment["METRICS_PORT"] == str(METRICS_PORT)


def test_worker_and_beat_run_the_app_image_with_the_app_environment() -> None:
    app = services()["app"]
    for name in JOB_SERVICES:
        spec = services()[name]
        assert spec["image"] == app["image"], name
        assert spec["build"] == app["build"], name
        for variable, value in app["environment"].items():
            assert spec["environment"][variable] == value, f"{name}: {variable}"
        assert spec["read_only"] is True, name
        assert spec["tmpfs"] == app["tmpfs"], name
        assert spec["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert spec["depends_on"]["redis"]["condition"] == "service_healthy", name
        assert spec.get("restart") == "unless-stopped", name


def test_worker_and_beat_run_the_command_lines_of_app_jobs_commands() -> None:
    from app.jobs.commands import beat_command, worker_command  # noqa: PLC0415

    # The same arguments after the interpreter (the image's `python` instead of sys.executable).
    assert services()["worker"]["command"][1:] == worker_command()[1:]
    assert services()["beat"]["command"][1:] == beat_command()[1:]
    assert services()["worker"]["command"][0] == services()["beat"]["command"][0] == "python"


def test_worker_and_beat_health_checks_ping_their_own_node() -> None:
    worker = " ".join(services()["worker"]["healthcheck"]["test"])
    beat = " ".join(services()["beat"]["healthcheck"]["test"])
    assert "inspect ping --destination worker@$$HOSTNAME" in worker
    assert "inspect ping --destination celerybeat@$$HOSTNAME" in beat


def test_there_is_one_beat_and_the_worker_serves_its_metrics_port() -> None:
    assert int(services()["beat"].get("deploy", {}).get("replicas", 1)) == 1
    beat_env = services()["beat"]["environment"]
    assert beat_env["CELERY_BEAT_SCHEDULE_FILENAME"].startswith("/tmp/")  # noqa: S108
    worker = services()["worker"]
    assert worker["environment"]["WORKER_METRICS_PORT"] == str(WORKER_METRICS_PORT)
    assert str(WORKER_METRICS_PORT) in [str(port) for port in worker["expose"]]


def test_the_app_serves_the_export_files_the_worker_writes() -> None:
    """One named volume at EXPORT_STORAGE_DIR in both: the worker writes, the app reads."""
    assert services()["app"]["environment"]["EXPORT_STORAGE_DIR"] == EXPORT_DIR
    for name in ("app", "worker"):
        assert f"export-data:{EXPORT_DIR}" in services()[name]["volumes"], name
    assert "export-data" in load_compose()["volumes"]
    assert f"mkdir -p /run/metrics {EXPORT_DIR}" in DOCKERFILE.read_text(encoding="utf-8")


def test_the_migration_runs_migrate_and_creates_the_demo_users() -> None:
    script = " ".join(services()["migrate"]["command"])
    assert "manage.py migrate --noinput" in script
    assert "manage.py ensure_demo_user" in script
    assert "--staff --username demo-admin" in script


def test_prometheus_runs_with_exemplars_lifecycle_and_the_rules_directory() -> None:
    spec = services()["prometheus"]
    assert "--enable-feature=exemplar-storage" in spec["command"]
    assert "--web.enable-lifecycle" in spec["command"]
    assert "./observability/prometheus/rules:/etc/prometheus/rules:ro" in spec["volumes"]
    assert (
        "./observability/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro"
        in spec["volumes"]
    )


def test_grafana_is_11_6_with_anonymous_viewers_and_provisioning() -> None:
    spec = services()["grafana"]
    assert re.fullmatch(r"grafana/grafana:11\.6\.\d+", spec["image"])
    assert spec["environment"]["GF_AUTH_ANONYMOUS_ENABLED"] == "true"
    assert spec["environment"]["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    assert "./observability/grafana/provisioning:/etc/grafana/provisioning:ro" in spec["volumes"]
    assert "./observability/grafana/dashboards:/var/lib/grafana/dashboards:ro" in spec["volumes"]


def test_alertmanager_gets_its_webhook_url_file_from_the_environment() -> None:
    spec = services()["alertmanager"]
    script = " ".join(spec["entrypoint"])
    assert "/etc/alertmanager/webhook_url" in script
    assert "$$ALERTMANAGER_WEBHOOK_URL" in script
    assert "ALERTMANAGER_WEBHOOK_URL" in spec["environment"]


def test_backend_service_names_match_the_grafana_datasource_urls() -> None:
    ports = {"prometheus": "9090", "tempo": "3200", "loki": "3100"}
    configs = {
        "tempo": (REPO / "observability/tempo/tempo.yaml").read_text(encoding="utf-8"),
        "loki": (REPO / "observability/loki/loki.yaml").read_text(encoding="utf-8"),
    }
    assert set(ports) <= set(services())
    assert f"http_listen_port: {ports['tempo']}" in configs["tempo"]
    assert f"http_listen_port: {ports['loki']}" in configs["loki"]
    push_url = services()["alloy"]["environment"]["LOKI_PUSH_URL"]
    assert push_url == f"http://loki:{ports['loki']}/loki/api/v1/push"


def test_every_data_volume_is_named_and_declared() -> None:
    declared = set(load_compose().get("volumes", {}))
    used = set()
    for spec in services().values():
        for volume in spec.get("volumes", []):
            if isinstance(volume, str) and not volume.startswith((".", "/", "~")):
                used.add(volume.split(":", 1)[0])
    assert used == declared


# ---------------------------------------------------------------- the image


def _dockerfile_stages() -> list[list[str]]:
    """Dockerfile instructions (continuations joined), split into stages at FROM."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text(encoding="utf-8"))
    stages: list[list[str]] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(stripped)
    return stages


def test_the_image_builds_from_a_pinned_python_3_11_slim_bookworm() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, flags=re.MULTILINE)
    assert base, "the base image is named once, in ARG PYTHON_IMAGE"
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", base.group(1))
    assert len(_dockerfile_stages()) >= 2, "multi-stage: wheels are built in a builder stage"


def test_the_runtime_stage_has_no_compiler_and_runs_gunicorn_as_a_fixed_non_root_user() -> None:
    runtime = _dockerfile_stages()[-1]
    joined = "\n".join(runtime)
    assert not re.search(r"\b(gcc|build-essential|apt-get install)\b", joined)
    users = [line.split()[1] for line in runtime if line.startswith("USER ")]
    assert users, "the runtime stage sets USER"
    assert users[-1].split(":")[0] == "10001"
    assert runtime[-1] == 'CMD ["python", "-m", "app.serve", "--config", "gunicorn.conf.py"]'
    assert "EXPOSE 8000 9464" in runtime
    assert any(line.startswith("HEALTHCHECK") and "/healthz" in line for line in runtime)
    assert "requirements/base.txt" in DOCKERFILE.read_text(encoding="utf-8")
    for variable in ("PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1"):
        assert variable in joined
    assert "collectstatic" in joined
    assert 'org.opencontainers.image.title="todo-api"' in joined


# ---------------------------------------------------------------- Prometheus


def _prometheus_config() -> dict[str, Any]:
    data = yaml.safe_load(PROMETHEUS_CONFIG.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_prometheus_scrapes_the_app_as_job_todo_api() -> None:
    jobs = {job["job_name"]: job for job in _prometheus_config()["scrape_configs"]}
    targets = [t for config in jobs["todo-api"]["static_configs"] for t in config["targets"]]
    assert targets == [f"app:{METRICS_PORT}"]
    assert {"prometheus", "alertmanager", "otel-collector"} <= set(jobs)
    collector = jobs["otel-collector"]["static_configs"][0]["targets"]
    assert collector == ["otel-collector:8888"]


def test_prometheus_scrapes_every_worker_container_as_the_jobs_slos_job() -> None:
    jobs = {job["job_name"]: job for job in _prometheus_config()["scrape_configs"]}
    worker = load_slo().jobs
    assert worker is not None
    assert jobs[worker.job]["dns_sd_configs"] == [
        {"names": ["worker"], "type": "A", "port": WORKER_METRICS_PORT}
    ]


def test_prometheus_alerts_to_alertmanager_and_loads_the_mounted_rules() -> None:
    config = _prometheus_config()
    targets = [
        target
        for manager in config["alerting"]["alertmanagers"]
        for static in manager["static_configs"]
        for target in static["targets"]
    ]
    assert targets == ["alertmanager:9093"]
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    assert config["global"]["external_labels"] == {"environment": "compose"}
    assert config["global"]["scrape_interval"] == "15s"
    assert config["global"]["evaluation_interval"] == "15s"


def test_promtool_accepts_the_prometheus_config() -> None:
    run_tool("prometheus", "promtool", "check", "config", str(PROMETHEUS_CONFIG))


def test_promtool_accepts_the_config_with_the_repos_rules_in_place(tmp_path: Path) -> None:
    """What Prometheus loads in compose: this config plus the mounted rules directory."""
    config = copy.deepcopy(_prometheus_config())
    config["rule_files"] = [str(PROMETHEUS_RULES / "*.yml")]
    checked = tmp_path / "prometheus.yml"
    checked.write_text(yaml.safe_dump(config), encoding="utf-8")
    run_tool("prometheus", "promtool", "check", "config", str(checked))

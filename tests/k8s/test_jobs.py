"""The background-job workloads of every overlay: the Celery workers and beat.

What a platform engineer relies on beyond the generic policy (tests/k8s/test_policy.py):
workers and beat run app/jobs/commands.py's command lines from the API's image, ConfigMap and
Secret files; probes ping the process's own Celery node; workers are autoscaled, have a PDB
and serve metrics on 9465 to the monitoring namespace only (scraped by a ServiceMonitor in the
monitoring render); exactly one beat, replaced with Recreate, with no database egress; the API
and the workers share one export volume, ReadWriteMany in production.
"""

from __future__ import annotations

import pytest

from app.jobs.commands import beat_command, worker_command
from k8s.validate import describe
from tests.k8s.render import (
    OVERLAY_TARGET_NAMES,
    Container,
    Object,
    PodTemplate,
    containers,
    named,
    of_kind,
    pod_templates,
    render,
    resolved_env,
)

API, WORKER, BEAT = "todo-api", "todo-worker", "todo-beat"
WORKER_METRICS_PORT = 9465
EXPORTS_CLAIM = "todo-api-exports"
MONITORING_NAMESPACE = {"kubernetes.io/metadata.name": "monitoring"}
DATABASE_PORT = 5432


def _pod(name: str, deployment: str) -> PodTemplate:
    found = [
        pod
        for pod in pod_templates(render(name))
        if pod.kind == "Deployment" and pod.owner["metadata"]["name"] == deployment
    ]
    assert len(found) == 1, f"{name}: expected one Deployment/{deployment}"
    return found[0]


def _main(pod: PodTemplate) -> Container:
    return next(container for container in containers(pod) if not container.init)


def _selects(selector: Object, labels: dict[str, str]) -> bool:
    """matchLabels and NotIn/In matchExpressions against ``labels``."""
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        value = labels.get(expression["key"])
        if expression["operator"] == "NotIn" and value in expression["values"]:
            return False
        if expression["operator"] == "In" and value not in expression["values"]:
            return False
    return True


@pytest.mark.parametrize("name", OVERLAY_TARGET_NAMES)
def test_worker_and_beat_run_the_command_lines_of_app_jobs(name: str) -> None:
    """The arguments of app/jobs/commands.py after the interpreter, on the API's image."""
    api_image = _main(_pod(name, API)).spec["image"]
    for deployment, command in ((WORKER, worker_command()), (BEAT, beat_command())):
        container = _main(_pod(name, deployment))
        assert container.spec["command"][0] == "python", deployment
        assert container.spec["command"][1:] == command[1:], deployment
        assert container.spec["image"] == api_image, deployment


@pytest.mark.parametrize("name", OVERLAY_TARGET_NAMES)
def test_worker_and_beat_get_the_api_configuration(name: str) -> None:
    """Same ConfigMap (so the same broker, database and telemetry settings) and Sentry file."""
    objects = render(name)
    api = resolved_env(objects, _main(_pod(name, API)))
    for deployment in (WORKER, BEAT):
        env = resolved_env(objects, _main(_pod(name, deployment)))
        for key in ("REDIS_URL_FILE", "DATABASE_URL_FILE", "DEPLOYMENT_ENVIRONMENT"):
            assert env[key] == api[key], f"{deployment}: {key}"
        assert env["SENTRY_DSN_FILE"] == api["SENTRY_DSN_FILE"], deployment
    assert resolved_env(objects, _main(_pod(name, WORKER)))["WORKER_METRICS_PORT"] == "9465"


@pytest.mark.parametrize("name", OVERLAY_TARGET_NAMES)
def test_probes_ping_the_containers_own_celery_node(name: str) -> None:
    for deployment, node in ((WORKER, "worker@$HOSTNAME"), (BEAT, "celerybeat@$HOSTNAME")):
        container = _main(_pod(name, deployment))
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            command = " ".join(container.spec[probe]["exec"]["command"])
            assert f'inspect ping --destination "{node}"' in command, f"{deployment} {probe}"
            # the probe's own --timeout fits in the kubelet's
            assert container.spec[probe]["timeoutSeconds"] > 10, f"{deployment} {probe}"


@pytest.mark.parametrize("name", OVERLAY_TARGET_NAMES)
def test_there_is_exactly_one_beat_replaced_by_recreate(name: str) -> None:
    objects = render(name)
    beat = named(objects, "Deployment", BEAT)
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}
    scaled = [
        hpa["spec"]["scaleTargetRef"]["name"] for hpa in of_kind(objects, "HorizontalPodAutoscaler")
    ]
    assert BEAT not in scaled


@pytest.mark.parametrize("name", OVERLAY_TARGET_NAMES)
def test_workers_are_autoscaled_on_cpu_and_have_a_disruption_budget(name: str) -> None:
    objects = render(name)
    worker = named(objects, "Deployment", WORKER)
    assert "replicas" not in worker["spec"], "the HPA owns the count"
    (hpa,) = [
        hpa
        for hpa in of_kind(objects, "HorizontalPodAutoscaler")
        if hpa["spec"]["scaleTargetRef"]
        == {"apiVersion": "apps/v1", "kind": "Deployment", "name": WORKER}
    ]
    assert [metric["resource"]["name"] for metric in hpa["spec"]["metrics"]] == ["cpu"]
    labels = worker["spec"]["template"]["metadata"]["labels"]
    budgets = [
        pdb
        for pdb in of_kind(objects, "PodDisruptionBudget")
        if _selects(pdb["spec"]["selector"], labels)
    ]
    assert [pdb["metadata"]["name"] for pdb in budgets] == [WORKER]
    if name == "production":
        assert hpa["spec"]["minReplicas"] >= 2


@pytest.mark.parametrize("name", OVERLAY_TARGET_NAMES)
def test_worker_metrics_port_is_open_to_monitoring_only(name: str) -> None:
    """Every ingress rule selecting the workers comes from the monitoring namespace, on
    `metrics`, which is port 9465 of the worker container and of Service todo-worker."""
    objects = render(name)
    pod = _pod(name, WORKER)
    ports = {port["name"]: port["containerPort"] for port in _main(pod).spec["ports"]}
    assert ports == {"metrics": WORKER_METRICS_PORT}
    rules = [
        (policy, rule)
        for policy in of_kind(objects, "NetworkPolicy")
        if "Ingress" in policy["spec"].get("policyTypes", [])
        and _selects(policy["spec"]["podSelector"], pod.labels)
        for rule in policy["spec"].get("ingress") or []
    ]
    assert rules, f"{name}: nothing may reach the workers' metrics"
    for policy, rule in rules:
        assert rule["from"] == [{"namespaceSelector": {"matchLabels": MONITORING_NAMESPACE}}], (
            describe(policy)
        )
        assert rule["ports"] == [{"protocol": "TCP", "port": "metrics"}], describe(policy)
    service = named(objects, "Service", WORKER)
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["ports"][0]["port"] == WORKER_METRICS_PORT


def test_the_monitoring_render_scrapes_the_workers_as_job_todo_worker() -> None:
    objects = render("dev+monitoring")
    monitor = named(objects, "ServiceMonitor", WORKER)
    service = named(objects, "Service", WORKER)
    assert _selects(monitor["spec"]["selector"], service["metadata"]["labels"])
    assert not _selects(
        monitor["spec"]["selector"], named(objects, "Service", API)["metadata"]["labels"]
    )
    assert [endpoint["port"] for endpoint in monitor["spec"]["endpoints"]] == ["metrics"]


@pytest.mark.parametrize("name", OVERLAY_TARGET_NAMES)
def test_beat_may_not_reach_the_database(name: str) -> None:
    """No egress policy selecting beat opens 5432; one opens Redis (6379)."""
    objects = render(name)
    labels = _pod(name, BEAT).labels
    ports = {
        port.get("port")
        for policy in of_kind(objects, "NetworkPolicy")
        if "Egress" in policy["spec"].get("policyTypes", [])
        and policy["spec"]["podSelector"]
        and _selects(policy["spec"]["podSelector"], labels)
        for rule in policy["spec"].get("egress") or []
        for port in rule.get("ports") or [{"port": None}]
    }
    assert DATABASE_PORT not in ports
    assert None not in ports, "an egress rule without ports opens every port"
    assert 6379 in ports


@pytest.mark.parametrize("name", OVERLAY_TARGET_NAMES)
def test_the_api_serves_the_files_the_workers_write(name: str) -> None:
    """API and workers mount the claim todo-api-exports at EXPORT_STORAGE_DIR; production's
    is ReadWriteMany (pods on several nodes)."""
    objects = render(name)
    for deployment in (API, WORKER):
        pod = _pod(name, deployment)
        container = _main(pod)
        directory = resolved_env(objects, container)["EXPORT_STORAGE_DIR"]
        volumes = {
            volume["name"]: volume["persistentVolumeClaim"]["claimName"]
            for volume in pod.spec["volumes"]
            if "persistentVolumeClaim" in volume
        }
        mounts = {mount["mountPath"]: mount["name"] for mount in container.spec["volumeMounts"]}
        assert volumes.get(mounts.get(directory, "")) == EXPORTS_CLAIM, deployment
    claim = named(objects, "PersistentVolumeClaim", EXPORTS_CLAIM)
    if name == "production":
        assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
        assert claim["spec"].get("storageClassName"), "production names its RWX class"

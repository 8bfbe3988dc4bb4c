"""Every render target builds with `kubectl kustomize`, and what it renders hangs together.

Targets (tests/k8s/render.py): the dev and production overlays, the load test, and the dev
overlay with the monitoring component. Beyond "it renders": names are unique, each overlay
puts everything in its namespace, and every reference resolves inside the render (ConfigMaps
and Secrets a pod uses, Service/PDB/HPA/ServiceMonitor targets), except the production
Secret, which is created by hand before the first apply.
"""

from __future__ import annotations

from collections import Counter

import pytest
import yaml

from k8s.validate import describe
from observability.slo import load_slo
from tests.k8s.render import (
    K8S,
    OVERLAY_TARGET_NAMES,
    TARGET_NAMES,
    Object,
    PodTemplate,
    containers,
    named,
    of_kind,
    pod_templates,
    render,
    target,
)

OVERLAY_NAMESPACES = {"dev": "todo-dev", "production": "todo"}
APP = "todo-api"
APP_LABELS = {"app.kubernetes.io/name": APP, "app.kubernetes.io/part-of": "todo-observability"}
APP_SELECTOR = {"app.kubernetes.io/name": APP, "app.kubernetes.io/component": "api"}
PRECREATED_SECRETS = {"production": {"todo-api-secrets"}}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


@pytest.mark.parametrize("name", TARGET_NAMES)
def test_target_renders_named_objects(name: str) -> None:
    """Renders at least one object; each has apiVersion, kind, name; no duplicates."""
    objects = render(name)
    for obj in objects:
        assert obj.get("apiVersion"), f"{name}: {describe(obj)} has no apiVersion"
        assert obj.get("kind"), f"{name}: an object has no kind: {obj}"
        assert (obj.get("metadata") or {}).get("name"), f"{name}: {describe(obj)} has no name"
    keys = Counter(
        (obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"]) for obj in objects
    )
    duplicates = [key for key, count in keys.items() if count > 1]
    assert not duplicates, f"{name}: rendered twice: {duplicates}"


@pytest.mark.parametrize("name", TARGET_NAMES)
def test_everything_lands_in_one_namespace(name: str) -> None:
    """Overlays set their namespace on every namespaced object (base sets none); other
    targets (the load test, applied with `-n`) use one namespace or none."""
    objects = [obj for obj in render(name) if obj["kind"] not in CLUSTER_SCOPED]
    namespaces = {obj["metadata"].get("namespace") for obj in objects}
    overlay = target(name).overlay
    expected = {OVERLAY_NAMESPACES[overlay]} if overlay else namespaces
    assert len(namespaces) == 1, f"{name}: objects spread over namespaces {namespaces}"
    assert namespaces == expected, f"{name}: namespace {namespaces}, want {expected}"


@pytest.mark.parametrize("name", OVERLAY_TARGET_NAMES)
def test_app_objects_carry_the_contract_names_and_labels(name: str) -> None:
    """The app's Deployment, Service, ServiceAccount, HPA, PDB and migration Job exist under
    their contract names, labelled; the Deployment's pods carry the selector labels."""
    objects = render(name)
    for kind, object_name in [
        ("Deployment", APP),
        ("Service", APP),
        ("ServiceAccount", APP),
        ("HorizontalPodAutoscaler", APP),
        ("PodDisruptionBudget", APP),
        ("Job", f"{APP}-migrate"),
    ]:
        labels = named(objects, kind, object_name)["metadata"].get("labels") or {}
        missing = {k: v for k, v in APP_LABELS.items() if labels.get(k) != v}
        assert not missing, f"{name}: {kind}/{object_name} lacks labels {missing}"
    deployment = named(objects, "Deployment", APP)
    assert deployment["spec"]["selector"] == {"matchLabels": APP_SELECTOR}, (
        f"{name}: Deployment/{APP} spec.selector is {deployment['spec']['selector']}"
    )
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert _selects(APP_SELECTOR, pod_labels), f"{name}: pod labels {pod_labels}"
    service = named(objects, "Service", APP)
    ports = {port["name"]: port for port in service["spec"]["ports"]}
    assert ports.get("http", {}).get("port") == 8000, f"{name}: Service/{APP} ports {ports}"
    assert ports.get("metrics", {}).get("port") == 9464, f"{name}: Service/{APP} ports {ports}"
    assert ports["http"].get("targetPort") == "http", f"{name}: http targetPort"
    assert ports["metrics"].get("targetPort") == "metrics", f"{name}: metrics targetPort"


def _namespace(obj: Object) -> str | None:
    namespace = obj["metadata"].get("namespace")
    return str(namespace) if namespace is not None else None


Reference = tuple[str, str, bool]  # kind, name, optional
REF_KEYS = {
    "configMap": "ConfigMap",
    "secret": "Secret",
    "configMapRef": "ConfigMap",
    "secretRef": "Secret",
    "configMapKeyRef": "ConfigMap",
    "secretKeyRef": "Secret",
}


def _refs(holder: Object) -> list[Reference]:
    """The ConfigMap/Secret references directly under ``holder`` (a volume, a projected
    source, an envFrom entry or an env valueFrom)."""
    found = []
    for key, kind in REF_KEYS.items():
        ref = holder.get(key)
        if isinstance(ref, dict):
            found.append(
                (kind, str(ref.get("name") or ref.get("secretName")), bool(ref.get("optional")))
            )
    return found


def references(pod: PodTemplate) -> list[Reference]:
    """Every ConfigMap and Secret the pod template mounts or reads its environment from."""
    found = []
    for volume in pod.spec.get("volumes") or []:
        found += _refs(volume)
        for source in (volume.get("projected") or {}).get("sources") or []:
            found += _refs(source)
    for container in containers(pod):
        for source in container.spec.get("envFrom") or []:
            found += _refs(source)
        for variable in container.spec.get("env") or []:
            found += _refs(variable.get("valueFrom") or {})
    return found


@pytest.mark.parametrize("name", TARGET_NAMES)
def test_pods_reference_rendered_configmaps_and_secrets(name: str) -> None:
    """Every ConfigMap/Secret a pod mounts or reads is rendered (kustomize rewrites hashed
    names only for objects it knows), save optional ones and the pre-created Secrets."""
    objects = render(name)
    rendered = {
        (obj["kind"], _namespace(obj), obj["metadata"]["name"])
        for obj in objects
        if obj["kind"] in {"ConfigMap", "Secret"}
    }
    allowed = PRECREATED_SECRETS.get(target(name).overlay or "", set())
    problems = [
        f"{pod.where} uses {kind}/{ref_name}, which is not rendered"
        for pod in pod_templates(objects)
        for kind, ref_name, optional in references(pod)
        if (kind, _namespace(pod.owner), ref_name) not in rendered
        and not optional
        and not (kind == "Secret" and ref_name in allowed)
    ]
    assert not problems, f"{name}:\n" + "\n".join(problems)


def _port_names(pods: list[PodTemplate]) -> set[str]:
    return {
        str(port.get("name"))
        for pod in pods
        for container in containers(pod)
        for port in container.spec.get("ports") or []
    }


@pytest.mark.parametrize("name", TARGET_NAMES)
def test_services_select_pods_and_their_named_ports(name: str) -> None:
    """Each Service's selector matches a pod template, whose containers name its targetPorts."""
    objects = render(name)
    templates = pod_templates(objects)
    problems = []
    for service in of_kind(objects, "Service"):
        selector = service["spec"].get("selector") or {}
        if not selector:
            continue
        selected = [pod for pod in templates if _selects(selector, pod.labels)]
        if not selected:
            problems.append(f"{describe(service)}: selector {selector} matches no pod template")
            continue
        names = _port_names(selected)
        problems += [
            f"{describe(service)}: ports[{port.get('name')}].targetPort "
            f"{port['targetPort']!r} is not a container port name {sorted(names)}"
            for port in service["spec"].get("ports") or []
            if isinstance(port.get("targetPort"), str) and port["targetPort"] not in names
        ]
    assert not problems, f"{name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("name", TARGET_NAMES)
def test_budgets_and_autoscalers_have_targets(name: str) -> None:
    """PDB selectors match a pod template; HPA scaleTargetRefs name a rendered workload."""
    objects = render(name)
    templates = pod_templates(objects)
    problems = []
    for pdb in of_kind(objects, "PodDisruptionBudget"):
        selector = pdb["spec"].get("selector", {}).get("matchLabels") or {}
        if not any(_selects(selector, pod.labels) for pod in templates):
            problems.append(f"{describe(pdb)}: selector {selector} matches no pod template")
    for hpa in of_kind(objects, "HorizontalPodAutoscaler"):
        ref = hpa["spec"]["scaleTargetRef"]
        if not [
            obj for obj in of_kind(objects, ref["kind"]) if obj["metadata"]["name"] == ref["name"]
        ]:
            problems.append(f"{describe(hpa)}: scaleTargetRef {ref} is not rendered")
    assert not problems, f"{name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("name", TARGET_NAMES)
def test_service_monitors_scrape_a_named_service_port(name: str) -> None:
    """A ServiceMonitor selects rendered Services and scrapes a port they name; the app's
    selects only Service todo-api (the Prometheus job label, which the rules select)."""
    objects = render(name)
    problems = []
    for monitor in of_kind(objects, "ServiceMonitor"):
        selector = monitor["spec"]["selector"].get("matchLabels") or {}
        services = [
            service
            for service in of_kind(objects, "Service")
            if _selects(selector, service["metadata"].get("labels") or {})
        ]
        if not services:
            problems.append(f"{describe(monitor)}: selector {selector} matches no Service")
        service_names = {service["metadata"]["name"] for service in services}
        if monitor["metadata"]["name"] == APP and service_names != {APP}:
            problems.append(f"{describe(monitor)}: selects Services {service_names}, want {APP}")
        port_names = {
            port.get("name") for service in services for port in service["spec"].get("ports", [])
        }
        problems += [
            f"{describe(monitor)}: endpoint port {endpoint.get('port')!r} "
            f"is not among the selected Services' ports {port_names}"
            for endpoint in monitor["spec"]["endpoints"]
            if endpoint.get("port") not in port_names
        ]
    assert not problems, f"{name}:\n" + "\n".join(problems)


def _alerts(objects: list[Object]) -> list[Object]:
    return [
        rule
        for prometheus_rule in of_kind(objects, "PrometheusRule")
        for group in prometheus_rule["spec"]["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]


def test_production_alerts_link_the_overlays_grafana_and_runbooks_not_localhost() -> None:
    """The production PrometheusRules carry monitoring-links.yaml's bases on every alert."""
    links = yaml.safe_load((K8S / "overlays" / "production" / "monitoring-links.yaml").read_text())
    grafana, runbooks = links["grafana_url"].rstrip("/"), links["runbook_url"].rstrip("/")
    assert "localhost" not in grafana
    assert grafana.startswith("https://")
    assert runbooks.startswith("https://")
    objects = render("production")
    alerts = _alerts(objects)
    assert len(alerts) > 10, "the production overlay renders the alerts"
    for alert in alerts:
        annotations = alert["annotations"]
        assert annotations["dashboard_url"].startswith(f"{grafana}/d/"), alert["alert"]
        assert annotations["runbook_url"] == f"{runbooks}/{alert['alert']}.md"
    rules_text = yaml.safe_dump(of_kind(objects, "PrometheusRule"))
    assert "localhost" not in rules_text


def test_dev_with_monitoring_keeps_the_compose_links_of_the_slo_model() -> None:
    """Without its own monitoring-links.yaml an overlay keeps the SLO model's links."""
    compose = load_slo().links
    for alert in _alerts(render("dev+monitoring")):
        assert alert["annotations"]["runbook_url"] == compose.runbook(alert["alert"])
        assert alert["annotations"]["dashboard_url"].startswith(compose.dashboard(""))

"""Policy over what every render target deploys: hardening, resources, probes, availability.

Pod templates (Deployments, StatefulSets, Jobs, ..., init containers included) must meet the
`restricted` Pod Security Standard and the project's rules: read-only root filesystem,
requests and limits, probes on long-running containers, pinned image tags, nothing from the
host, no service account token. The app's shutdown must fit its grace period (gunicorn's
graceful_timeout, read from gunicorn.conf.py, plus the preStop delay), it spreads over nodes
and zones, and writes only to emptyDirs. Each overlay gets its replica counts, environment
name, Secrets handling and NetworkPolicies checked. Failures name target, object and field.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from typing import Any

import pytest

from k8s.validate import describe
from tests.k8s.render import (
    OVERLAY_TARGET_NAMES,
    REPO,
    TARGET_NAMES,
    Container,
    Object,
    PodTemplate,
    containers,
    named,
    of_kind,
    pod_templates,
    render,
    resolved_env,
    target,
)

APP = "todo-api"
APP_SELECTOR = {"app.kubernetes.io/name": APP, "app.kubernetes.io/component": "api"}
ALLOWED_CAPABILITIES = {"NET_BIND_SERVICE"}
ALLOWED_SECCOMP = {"RuntimeDefault", "Localhost"}
RESOURCE_FIELDS = [
    (section, name) for section in ("requests", "limits") for name in ("cpu", "memory")
]
APP_EMPTY_DIRS = ("/tmp", "/run/metrics")  # noqa: S108 (mount paths in the pod, not files here)
SPREAD_KEYS = {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
MONITORING_NAMESPACE = {"kubernetes.io/metadata.name": "monitoring"}
METRICS_PORTS: set[int | str] = {"metrics", 9464}
PRODUCTION_MIN_REPLICAS = 3
PROMETHEUS_SELECTOR_LABELS = {"release": "kube-prometheus-stack"}

# Long-running containers (owner name, container name) without readiness/liveness probes, and
# why (as tests/observability/test_compose.py's HEALTHCHECK_EXEMPTIONS for the same process).
PROBE_EXEMPTIONS: dict[tuple[str, str], str] = {
    ("locust-worker", "locust"): "serves no port and receives no traffic (nothing to be ready "
    "for); it exits when it loses the master and is restarted, and the master reports missing "
    "workers",
}

Problems = list[str]


def _report(name: str, problems: Problems) -> None:
    assert not problems, f"{name}: {len(problems)} problem(s):\n" + "\n".join(problems)


def _each_container(name: str, check: Callable[[Container], Problems]) -> Problems:
    return [
        problem
        for pod in pod_templates(render(name))
        for container in containers(pod)
        for problem in check(container)
    ]


def _effective(container: Container, field: str) -> Any:
    """A securityContext field as the kubelet sees it: the container's, else the pod's."""
    own = (container.spec.get("securityContext") or {}).get(field)
    if own is not None:
        return own
    return (container.pod.spec.get("securityContext") or {}).get(field)


# ------------------------------------------------------------------ containers


def _security_problems(container: Container) -> Problems:
    where = container.where
    context = container.spec.get("securityContext") or {}
    problems = []
    if _effective(container, "runAsNonRoot") is not True:
        problems.append(f"{where}: securityContext.runAsNonRoot is not true (pod or container)")
    if _effective(container, "runAsUser") == 0:
        problems.append(f"{where}: securityContext.runAsUser is 0 (root)")
    seccomp = (_effective(container, "seccompProfile") or {}).get("type")
    if seccomp not in ALLOWED_SECCOMP:
        problems.append(f"{where}: securityContext.seccompProfile.type is {seccomp!r}")
    if context.get("allowPrivilegeEscalation") is not False:
        problems.append(f"{where}: securityContext.allowPrivilegeEscalation is not false")
    if context.get("privileged"):
        problems.append(f"{where}: securityContext.privileged is true")
    capabilities = context.get("capabilities") or {}
    if "ALL" not in (capabilities.get("drop") or []):
        problems.append(f"{where}: securityContext.capabilities.drop lacks ALL")
    added = set(capabilities.get("add") or []) - ALLOWED_CAPABILITIES
    if added:
        problems.append(f"{where}: securityContext.capabilities.add has {sorted(added)}")
    if context.get("readOnlyRootFilesystem") is not True:
        problems.append(f"{where}: securityContext.readOnlyRootFilesystem is not true")
    return problems


def _resource_problems(container: Container) -> Problems:
    resources = container.spec.get("resources") or {}
    return [
        f"{container.where}: resources.{section}.{name} is not set"
        for section, name in RESOURCE_FIELDS
        if not (resources.get(section) or {}).get(name)
    ]


def image_tag(image: str) -> str | None:
    """The tag of an image reference (``None`` when there is none); digests are not tags."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def _image_problems(container: Container) -> Problems:
    image = str(container.spec.get("image") or "")
    tag = image_tag(image)
    if not image:
        return [f"{container.where}: no image"]
    if tag is None:
        return [f"{container.where}: image {image!r} has no tag"]
    if tag == "latest":
        return [f"{container.where}: image {image!r} is tagged latest"]
    return []


def _port_problems(container: Container) -> Problems:
    return [
        f"{container.where}: ports[{port.get('name')}] uses hostPort {port['hostPort']}"
        for port in container.spec.get("ports") or []
        if port.get("hostPort")
    ]


def _probe_problems(container: Container) -> Problems:
    if container.init or not container.pod.long_running:
        return []
    probes = ["readinessProbe", "livenessProbe"]
    if _is_app(container.pod):
        probes.append("startupProbe")
    key = (str(container.pod.owner["metadata"]["name"]), str(container.spec.get("name")))
    if key in PROBE_EXEMPTIONS:
        return []
    return [f"{container.where}: no {probe}" for probe in probes if probe not in container.spec]


@pytest.mark.parametrize("name", TARGET_NAMES)
def test_containers_meet_the_restricted_pod_security_standard(name: str) -> None:
    """runAsNonRoot, seccomp RuntimeDefault, no escalation, drop ALL (add at most
    NET_BIND_SERVICE), not privileged, read-only root filesystem — init containers too."""
    _report(name, _each_container(name, _security_problems))


@pytest.mark.parametrize("name", TARGET_NAMES)
def test_containers_have_requests_and_limits(name: str) -> None:
    """cpu and memory requests and limits on every container, init containers included."""
    _report(name, _each_container(name, _resource_problems))


@pytest.mark.parametrize("name", TARGET_NAMES)
def test_images_are_pinned(name: str) -> None:
    """Every image has a tag, and it is not `latest`."""
    _report(name, _each_container(name, _image_problems))


@pytest.mark.parametrize("name", TARGET_NAMES)
def test_long_running_containers_have_probes(name: str) -> None:
    """Readiness and liveness on long-running containers; startup too on the app's."""
    _report(name, _each_container(name, _probe_problems))


@pytest.mark.parametrize("name", TARGET_NAMES)
def test_nothing_from_the_host(name: str) -> None:
    """No hostNetwork/hostPID/hostIPC, no hostPath volumes, no hostPort."""
    problems = _each_container(name, _port_problems)
    for pod in pod_templates(render(name)):
        for field in ("hostNetwork", "hostPID", "hostIPC"):
            if pod.spec.get(field):
                problems.append(f"{pod.where}: spec.{field} is true")
        for volume in pod.spec.get("volumes") or []:
            if "hostPath" in volume:
                problems.append(f"{pod.where}: volume {volume.get('name')} is a hostPath")
    _report(name, problems)


@pytest.mark.parametrize("name", TARGET_NAMES)
def test_no_service_account_tokens(name: str) -> None:
    """automountServiceAccountToken: false on every pod template and ServiceAccount."""
    objects = render(name)
    problems = [
        f"{pod.where}: spec.automountServiceAccountToken is not false"
        for pod in pod_templates(objects)
        if pod.spec.get("automountServiceAccountToken") is not False
    ]
    problems += [
        f"{describe(account)}: automountServiceAccountToken is not false"
        for account in of_kind(objects, "ServiceAccount")
        if account.get("automountServiceAccountToken") is not False
    ]
    _report(name, problems)


# ------------------------------------------------------------------ the app's pods


def _is_app(pod: PodTemplate) -> bool:
    return pod.kind == "Deployment" and pod.owner["metadata"]["name"] == APP


def _app(name: str) -> PodTemplate:
    found = [pod for pod in pod_templates(render(name)) if _is_app(pod)]
    assert len(found) == 1, f"{name}: expected one Deployment/{APP}, found {len(found)}"
    return found[0]


def gunicorn_graceful_timeout_default() -> int:
    """``graceful_timeout``'s default in gunicorn.conf.py (``_int_env("...", <default>)``)."""
    tree = ast.parse((REPO / "gunicorn.conf.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "graceful_timeout" for t in node.targets)
            and isinstance(node.value, ast.Call)
            and isinstance(node.value.args[-1], ast.Constant)
            and isinstance(node.value.args[-1].value, int)
        ):
            return node.value.args[-1].value
    raise AssertionError("gunicorn.conf.py: no `graceful_timeout = _int_env(..., <default>)`")


def pre_stop_delay(container: Object) -> int:
    """Seconds the preStop hook waits: ``sleep.seconds``, or ``exec`` of ``sleep N``."""
    pre_stop = (container.get("lifecycle") or {}).get("preStop") or {}
    if "sleep" in pre_stop:
        return int(pre_stop["sleep"]["seconds"])
    command = " ".join((pre_stop.get("exec") or {}).get("command") or [])
    match = re.search(r"\bsleep\s+(\d+)", command)
    return int(match.group(1)) if match else 0


def test_graceful_timeout_is_read_from_gunicorn_conf() -> None:
    """The parser finds gunicorn's default (25 s when this was written)."""
    assert gunicorn_graceful_timeout_default() > 0


def test_pre_stop_delay_parsing() -> None:
    """Both preStop forms are understood; no hook means no delay."""
    assert pre_stop_delay({"lifecycle": {"preStop": {"sleep": {"seconds": 5}}}}) == 5
    hook = {"exec": {"command": ["sh", "-c", "sleep 7"]}}
    assert pre_stop_delay({"lifecycle": {"preStop": hook}}) == 7
    assert pre_stop_delay({}) == 0


def test_image_tag_parsing() -> None:
    """Registry ports are not tags; digests alone are not tags."""
    assert image_tag("registry:5000/team/todo-api:0.1.0") == "0.1.0"
    assert image_tag("registry:5000/team/todo-api") is None
    assert image_tag("todo-api@sha256:abc") is None
    assert image_tag("todo-api:0.1.0@sha256:abc") == "0.1.0"


@pytest.mark.parametrize("name", OVERLAY_TARGET_NAMES)
def test_app_shutdown_fits_the_grace_period(name: str) -> None:
    """terminationGracePeriodSeconds > preStop delay + gunicorn's graceful_timeout (from the
    container's environment, else gunicorn.conf.py's default), with a preStop delay."""
    objects = render(name)
    pod = _app(name)
    grace = pod.spec.get("terminationGracePeriodSeconds", 30)
    problems = []
    for container in containers(pod):
        if container.init:
            continue
        env = resolved_env(objects, container)
        graceful = int(env.get("GUNICORN_GRACEFUL_TIMEOUT", gunicorn_graceful_timeout_default()))
        delay = pre_stop_delay(container.spec)
        if delay <= 0:
            problems.append(f"{container.where}: lifecycle.preStop has no delay")
        if grace <= graceful + delay:
            problems.append(
                f"{container.where}: terminationGracePeriodSeconds {grace} <= "
                f"preStop {delay} + GUNICORN_GRACEFUL_TIMEOUT {graceful}"
            )
    _report(name, problems)


@pytest.mark.parametrize("name", OVERLAY_TARGET_NAMES)
def test_app_spreads_over_nodes_and_zones(name: str) -> None:
    """topologySpreadConstraints over hostname and zone, selecting the app's own pods."""
    pod = _app(name)
    constraints = pod.spec.get("topologySpreadConstraints") or []
    keys = {constraint.get("topologyKey") for constraint in constraints}
    problems = [
        f"{pod.where}: no topologySpreadConstraints over {key}" for key in SPREAD_KEYS - keys
    ]
    for constraint in constraints:
        selector = (constraint.get("labelSelector") or {}).get("matchLabels") or {}
        if not selector or any(pod.labels.get(k) != v for k, v in selector.items()):
            problems.append(
                f"{pod.where}: topologySpreadConstraints[{constraint.get('topologyKey')}] "
                f"labelSelector {selector} does not select the app's pods"
            )
    _report(name, problems)


@pytest.mark.parametrize("name", OVERLAY_TARGET_NAMES)
def test_app_writes_only_to_empty_dirs(name: str) -> None:
    """The app containers mount emptyDirs at /tmp and /run/metrics (read-only root)."""
    pod = _app(name)
    empty_dirs = {
        volume["name"] for volume in pod.spec.get("volumes") or [] if "emptyDir" in volume
    }
    problems = []
    for container in containers(pod):
        if container.init:
            continue
        mounts = {
            mount["mountPath"]: mount["name"] for mount in container.spec.get("volumeMounts") or []
        }
        problems += [
            f"{container.where}: volumeMounts has no emptyDir at {path}"
            for path in APP_EMPTY_DIRS
            if mounts.get(path) not in empty_dirs
        ]
    _report(name, problems)


# ------------------------------------------------------------------ per overlay


def _hpa_for(objects: list[Object], kind: str, name: str) -> Object:
    found = [
        hpa
        for hpa in of_kind(objects, "HorizontalPodAutoscaler")
        if hpa["spec"]["scaleTargetRef"]["kind"] == kind
        and hpa["spec"]["scaleTargetRef"]["name"] == name
    ]
    assert len(found) == 1, f"expected one HorizontalPodAutoscaler for {kind}/{name}: {found}"
    return found[0]


def _environment(name: str) -> str | None:
    objects = render(name)
    pod = _app(name)
    app = next(container for container in containers(pod) if not container.init)
    return resolved_env(objects, app).get("DEPLOYMENT_ENVIRONMENT")


def test_production_is_highly_available() -> None:
    """Production: >= 3 replicas (the Deployment's count if it sets one, and the HPA's
    minimum), and a PDB over the app's pods that keeps some of them up."""
    objects = render("production")
    deployment = named(objects, "Deployment", APP)
    problems = []
    replicas = deployment["spec"].get("replicas")
    if replicas is not None and replicas < PRODUCTION_MIN_REPLICAS:
        problems.append(f"{describe(deployment)}: spec.replicas {replicas} < 3")
    hpa = _hpa_for(objects, "Deployment", APP)
    if hpa["spec"].get("minReplicas", 1) < PRODUCTION_MIN_REPLICAS:
        problems.append(f"{describe(hpa)}: spec.minReplicas {hpa['spec'].get('minReplicas')} < 3")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    budgets = [
        pdb
        for pdb in of_kind(objects, "PodDisruptionBudget")
        if all(
            labels.get(k) == v
            for k, v in (pdb["spec"].get("selector", {}).get("matchLabels") or {"": None}).items()
        )
    ]
    if not budgets:
        problems.append(f"production: no PodDisruptionBudget selects {describe(deployment)}")
    for pdb in budgets:
        spec = pdb["spec"]
        if spec.get("minAvailable") in (None, 0, "0%") and spec.get("maxUnavailable") in (
            None,
            "100%",
        ):
            problems.append(f"{describe(pdb)}: allows every pod to be evicted")
    _report("production", problems)


def test_production_runs_as_production_without_committed_secrets() -> None:
    """DEPLOYMENT_ENVIRONMENT=production (fault injection refused); no Secret with data is
    rendered: `todo-api-secrets` is created by hand before the first apply."""
    problems = []
    environment = _environment("production")
    if environment != "production":
        problems.append(f"Deployment/{APP}: DEPLOYMENT_ENVIRONMENT is {environment!r}")
    problems += [
        f"{describe(secret)}: a Secret with data is rendered (it must be pre-created)"
        for secret in of_kind(render("production"), "Secret")
        if secret.get("data") or secret.get("stringData")
    ]
    _report("production", problems)


@pytest.mark.parametrize("name", [n for n in OVERLAY_TARGET_NAMES if target(n).overlay == "dev"])
def test_dev_is_small_and_not_production(name: str) -> None:
    """Dev: one replica (HPA minimum 1), and an environment other than production."""
    objects = render(name)
    deployment = named(objects, "Deployment", APP)
    problems = []
    replicas = deployment["spec"].get("replicas")
    if replicas not in (None, 1):
        problems.append(f"{describe(deployment)}: spec.replicas is {replicas}, want 1")
    hpa = _hpa_for(objects, "Deployment", APP)
    if hpa["spec"].get("minReplicas", 1) != 1:
        problems.append(f"{describe(hpa)}: spec.minReplicas {hpa['spec'].get('minReplicas')}")
    environment = _environment(name)
    if not environment or environment == "production":
        problems.append(f"Deployment/{APP}: DEPLOYMENT_ENVIRONMENT is {environment!r}")
    _report(name, problems)


@pytest.mark.parametrize("name", TARGET_NAMES)
def test_prometheus_operator_objects_are_picked_up(name: str) -> None:
    """ServiceMonitors and PrometheusRules carry kube-prometheus-stack's selector label."""
    problems = [
        f"{describe(obj)}: metadata.labels lacks {PROMETHEUS_SELECTOR_LABELS}"
        for kind in ("ServiceMonitor", "PrometheusRule")
        for obj in of_kind(render(name), kind)
        if any(
            (obj["metadata"].get("labels") or {}).get(k) != v
            for k, v in PROMETHEUS_SELECTOR_LABELS.items()
        )
    ]
    _report(name, problems)


# ------------------------------------------------------------------ NetworkPolicies


def _selects_pod(policy: Object, pod: PodTemplate) -> bool:
    """Whether the policy's podSelector may select the pod (matchExpressions: assume yes)."""
    namespace = policy["metadata"].get("namespace")
    if namespace is not None and namespace != pod.owner["metadata"].get("namespace"):
        return False  # a policy without a namespace lands wherever it is applied (`-n`)
    selector = policy["spec"].get("podSelector") or {}
    labels = selector.get("matchLabels") or {}
    return all(pod.labels.get(key) == value for key, value in labels.items())


def _covers_metrics(rule: Object) -> bool:
    """Whether an ingress rule opens the metrics port (a rule without ports opens all)."""
    ports = rule.get("ports")
    if not ports:
        return True
    for port in ports:
        value = port.get("port")
        if value is None or value in METRICS_PORTS:
            return True
        end = port.get("endPort")
        if isinstance(value, int) and end and value <= 9464 <= end:
            return True
    return False


def _from_monitoring_only(peer: Object) -> bool:
    selector = peer.get("namespaceSelector")
    return (
        "ipBlock" not in peer
        and selector is not None
        and not selector.get("matchExpressions")
        and selector.get("matchLabels") == MONITORING_NAMESPACE
    )


@pytest.mark.parametrize("name", OVERLAY_TARGET_NAMES)
def test_namespace_is_deny_by_default(name: str) -> None:
    """A NetworkPolicy with podSelector {} and no rules denies all ingress and egress."""
    policies = of_kind(render(name), "NetworkPolicy")
    deny = [
        policy
        for policy in policies
        if not (policy["spec"].get("podSelector") or {})
        and {"Ingress", "Egress"} <= set(policy["spec"].get("policyTypes") or [])
        and not policy["spec"].get("ingress")
        and not policy["spec"].get("egress")
    ]
    assert deny, (
        f"{name}: no default-deny NetworkPolicy (spec.podSelector {{}}, spec.policyTypes "
        f"[Ingress, Egress], no rules) among {[describe(p) for p in policies]}"
    )


@pytest.mark.parametrize("name", TARGET_NAMES)
def test_metrics_port_is_open_to_the_monitoring_namespace_only(name: str) -> None:
    """Every ingress rule that reaches the app's metrics port comes only from the namespace
    labelled kubernetes.io/metadata.name=monitoring; overlays have at least one such rule.
    Policies of targets without the app (the load test, applied next to the dev overlay) are
    checked against the dev overlay's app pods."""
    objects = render(name)
    apps = [pod for pod in pod_templates(objects) if _is_app(pod)]
    if not apps and not target(name).overlay:
        apps = [pod for pod in pod_templates(render("dev")) if _is_app(pod)]
    problems = []
    allowed = False
    for policy in of_kind(objects, "NetworkPolicy"):
        if "Ingress" not in (policy["spec"].get("policyTypes") or ["Ingress"]):
            continue
        if not any(_selects_pod(policy, pod) for pod in apps):
            continue
        for index, rule in enumerate(policy["spec"].get("ingress") or []):
            if not _covers_metrics(rule):
                continue
            peers = rule.get("from") or []
            bad = [peer for peer in peers if not _from_monitoring_only(peer)]
            if not peers or bad:
                problems.append(
                    f"{describe(policy)}: spec.ingress[{index}] opens the metrics port to "
                    f"{bad or 'everyone'}"
                )
            else:
                allowed = True
    if target(name).overlay and not allowed:
        problems.append(f"no NetworkPolicy lets the monitoring namespace reach {APP}'s metrics")
    _report(name, problems)


@pytest.mark.parametrize("name", OVERLAY_TARGET_NAMES)
def test_overlay_namespace_enforces_the_restricted_standard(name: str) -> None:
    """If the overlay renders its Namespace, Pod Security admission enforces `restricted`
    there, so a pod that slips past these tests is still refused by the cluster."""
    objects = render(name)
    namespace = {pod.owner["metadata"].get("namespace") for pod in pod_templates(objects)}
    problems = [
        f"{describe(obj)}: metadata.labels[pod-security.kubernetes.io/enforce] is "
        f"{(obj['metadata'].get('labels') or {}).get('pod-security.kubernetes.io/enforce')!r}"
        for obj in of_kind(objects, "Namespace")
        if obj["metadata"]["name"] in namespace
        and (obj["metadata"].get("labels") or {}).get("pod-security.kubernetes.io/enforce")
        != "restricted"
    ]
    _report(name, problems)


def _secret_file_problems(objects: list[Object], container: Container) -> Problems:
    """No secret in the environment (``secretKeyRef``, ``envFrom: secretRef``); every
    ``<NAME>_FILE`` path is a key of a Secret volume this container mounts."""
    problems = [
        f"{container.where}: {variable['name']} from a Secret as a variable (mount it as a file)"
        for variable in container.spec.get("env") or []
        if (variable.get("valueFrom") or {}).get("secretKeyRef")
    ]
    problems += [
        f"{container.where}: envFrom a Secret (mount it as files)"
        for source in container.spec.get("envFrom") or []
        if source.get("secretRef")
    ]
    secret_volumes = {
        volume["name"]: volume["secret"]
        for volume in container.pod.spec.get("volumes") or []
        if "secret" in volume
    }
    mounted = {
        f"{mount['mountPath'].rstrip('/')}/{item['path']}"
        for mount in container.spec.get("volumeMounts") or []
        if mount["name"] in secret_volumes
        for item in secret_volumes[mount["name"]].get("items") or []
    }
    problems += [
        f"{container.where}: {name}={path} is no key of a Secret volume it mounts"
        for name, path in resolved_env(objects, container).items()
        if name.endswith("_FILE") and path not in mounted
    ]
    return problems


@pytest.mark.parametrize("name", OVERLAY_TARGET_NAMES)
def test_secrets_reach_containers_only_as_mounted_files(name: str) -> None:
    """The Sentry DSN too (``SENTRY_DSN_FILE``): nothing secret in a process environment, and
    no ``*_FILE`` variable pointing at a file the container does not have."""
    objects = render(name)
    problems = [
        problem
        for pod in pod_templates(objects)
        for container in containers(pod)
        for problem in _secret_file_problems(objects, container)
    ]
    _report(name, problems)


def test_the_api_container_reads_the_sentry_dsn_from_a_file() -> None:
    objects = render("production")
    api = next(
        container
        for pod in pod_templates(objects)
        if pod.owner["kind"] == "Deployment" and pod.owner["metadata"]["name"] == APP
        for container in containers(pod)
        if not container.init
    )

    env = resolved_env(objects, api)

    assert "SENTRY_DSN" not in env
    assert env["SENTRY_DSN_FILE"] == "/var/run/secrets/sentry/SENTRY_DSN"

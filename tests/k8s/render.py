"""Render the Kubernetes manifests under k8s/ with `kubectl kustomize`, for the tests here.

A render target is one thing a user applies: an overlay, the load-test kustomization, or a
documented overlay + component combination (built through a temporary kustomization that
references them by relative path: kustomize refuses absolute ones). Renders are cached for
the session; callers must not mutate the objects they get.

Without kubectl the tests skip, saying how to get it; with REQUIRE_SERVICES=1 (CI) they fail,
as for the servers of tests/support/backing_services.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from k8s.validate import describe
from tests.support.backing_services import services_required

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "k8s"
KUBECTL_HOW_TO_GET = (
    "install kubectl (it bundles kustomize): https://kubernetes.io/docs/tasks/tools/ or "
    "Debian's kubernetes-client package"
)

Object = dict[str, Any]


@dataclass(frozen=True)
class Target:
    """Something `kubectl apply -k` is pointed at: a kustomization plus optional components."""

    name: str
    kustomization: Path
    components: tuple[Path, ...] = ()
    overlay: str | None = None  # "dev" or "production": the environment it deploys
    namespace: str | None = None  # what `kubectl apply -n` gives a namespace-less kustomization


TARGETS = (
    Target("dev", K8S / "overlays" / "dev", overlay="dev"),
    Target("production", K8S / "overlays" / "production", overlay="production"),
    # applied as k8s/loadtest/README.md says: `kubectl apply -k k8s/loadtest -n todo-dev`
    Target("loadtest", K8S / "loadtest", namespace="todo-dev"),
    # documented in k8s/overlays/dev/README.md: the dev overlay with the monitoring component
    Target(
        "dev+monitoring",
        K8S / "overlays" / "dev",
        components=(K8S / "components" / "monitoring",),
        overlay="dev",
    ),
)
TARGET_NAMES = [target.name for target in TARGETS]
OVERLAY_TARGET_NAMES = [target.name for target in TARGETS if target.overlay]


def target(name: str) -> Target:
    """The render target called ``name``."""
    return next(candidate for candidate in TARGETS if candidate.name == name)


def kubectl() -> str:
    """Path of kubectl; skips (or fails with REQUIRE_SERVICES=1) the test when it is missing."""
    path = shutil.which("kubectl")
    if path is None:
        message = f"kubectl is not available: {KUBECTL_HOW_TO_GET}"
        if services_required():
            pytest.fail(f"{message} (REQUIRE_SERVICES=1)")
        pytest.skip(message)
    return path


def _kustomize(directory: Path) -> str:
    result = subprocess.run(
        [kubectl(), "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, (
        f"`kubectl kustomize {directory}` failed:\n{result.stdout}{result.stderr}"
    )
    return result.stdout


def _namespace_of(kustomization_dir: Path) -> str | None:
    """The ``namespace:`` a kustomization sets (so added components land in the same one)."""
    for filename in ("kustomization.yaml", "kustomization.yml", "Kustomization"):
        path = kustomization_dir / filename
        if path.exists():
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            namespace = data.get("namespace")
            return str(namespace) if namespace else None
    return None


@cache
def render_text(name: str) -> str:
    """The multi-document YAML `kubectl kustomize` prints for the target ``name``."""
    spec = target(name)
    assert spec.kustomization.is_dir(), f"{name}: {spec.kustomization} does not exist yet"
    if not spec.components and not spec.namespace:
        return _kustomize(spec.kustomization)
    with tempfile.TemporaryDirectory(prefix="k8s-render-") as tmp:
        here = Path(tmp)
        kustomization: dict[str, Any] = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": [os.path.relpath(spec.kustomization, here)],
            "components": [os.path.relpath(component, here) for component in spec.components],
        }
        namespace = spec.namespace or _namespace_of(spec.kustomization)
        if namespace:
            kustomization["namespace"] = namespace
        (here / "kustomization.yaml").write_text(yaml.safe_dump(kustomization), encoding="utf-8")
        return _kustomize(here)


@cache
def _render(name: str) -> tuple[Object, ...]:
    objects = tuple(document for document in yaml.safe_load_all(render_text(name)) if document)
    assert objects, f"{name}: `kubectl kustomize` rendered no objects"
    return objects


def render(name: str) -> list[Object]:
    """The objects of the target ``name`` (cached per session: do not mutate them)."""
    return list(_render(name))


def of_kind(objects: list[Object], kind: str) -> list[Object]:
    """The objects of ``kind``."""
    return [obj for obj in objects if obj.get("kind") == kind]


def named(objects: list[Object], kind: str, name: str) -> Object:
    """The object of ``kind`` called ``name``; fails the test when it is not rendered."""
    found = [obj for obj in of_kind(objects, kind) if obj["metadata"].get("name") == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


# ------------------------------------------------------------------ pod templates


@dataclass(frozen=True)
class PodTemplate:
    """The pod template of a workload object."""

    owner: Object
    spec: Object  # the PodSpec
    labels: dict[str, str]

    @property
    def where(self) -> str:
        """The owner, for messages."""
        return describe(self.owner)

    @property
    def kind(self) -> str:
        """The owner's kind."""
        return str(self.owner["kind"])

    @property
    def long_running(self) -> bool:
        """Serves until stopped (not a Job/CronJob/bare Pod run to completion)."""
        return self.kind not in {"Job", "CronJob", "Pod"}


WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}


def pod_templates(objects: list[Object]) -> list[PodTemplate]:
    """Every pod template rendered: Deployments, StatefulSets, DaemonSets, Jobs, CronJobs..."""
    templates = []
    for obj in objects:
        kind = obj.get("kind")
        if kind not in WORKLOAD_KINDS:
            continue
        if kind == "Pod":
            template: Object = obj
        elif kind == "CronJob":
            template = obj["spec"]["jobTemplate"]["spec"]["template"]
        else:
            template = obj["spec"]["template"]
        labels = (template.get("metadata") or {}).get("labels") or {}
        templates.append(PodTemplate(obj, template["spec"], dict(labels)))
    return templates


@dataclass(frozen=True)
class Container:
    """A container of a pod template, with whether it is an init container."""

    pod: PodTemplate
    spec: Object
    init: bool

    @property
    def where(self) -> str:
        """Owner and container, for messages."""
        section = "initContainers" if self.init else "containers"
        return f"{self.pod.where} {section}[{self.spec.get('name')}]"


def containers(pod: PodTemplate) -> Iterator[Container]:
    """The init containers, then the containers, of ``pod``."""
    for spec in pod.spec.get("initContainers") or []:
        yield Container(pod, spec, init=True)
    for spec in pod.spec.get("containers") or []:
        yield Container(pod, spec, init=False)


def resolved_env(objects: list[Object], container: Container) -> dict[str, str]:
    """The environment ``container`` gets from literal ``env`` values and rendered ConfigMaps
    (``envFrom`` and ``configMapKeyRef``); Secrets and absent ConfigMaps contribute nothing."""
    config_maps = {
        (obj["metadata"].get("namespace"), obj["metadata"]["name"]): obj.get("data") or {}
        for obj in of_kind(objects, "ConfigMap")
    }
    namespace = container.pod.owner["metadata"].get("namespace")
    env: dict[str, str] = {}
    for source in container.spec.get("envFrom") or []:
        ref = source.get("configMapRef")
        if ref:
            data = config_maps.get((namespace, ref["name"]), {})
            prefix = source.get("prefix", "")
            env.update({f"{prefix}{key}": str(value) for key, value in data.items()})
    for variable in container.spec.get("env") or []:
        if "value" in variable:
            env[variable["name"]] = str(variable["value"])
            continue
        ref = (variable.get("valueFrom") or {}).get("configMapKeyRef")
        if ref:
            data = config_maps.get((namespace, ref["name"]), {})
            if ref["key"] in data:
                env[variable["name"]] = str(data[ref["key"]])
    return env

"""Generate the Kubernetes manifests that copy files kept elsewhere in the repository.

The Prometheus rules, Grafana dashboards, collector configuration and Locust files each live
in one place (``observability/``, ``loadtests/``); Kubernetes needs them wrapped in objects.
This module writes those wrappers, so the cluster runs the very files compose and the tests
use:

- ``k8s/components/monitoring/generated/prometheusrule-<rule file>.yaml``: one
  ``PrometheusRule`` per ``observability/prometheus/rules/*.yml`` (its groups, unchanged);
- ``k8s/components/monitoring/generated/dashboard-<uid>.yaml``: one ConfigMap per
  ``observability/grafana/dashboards/*.json`` for the Grafana sidecar (the JSON byte for byte);
- ``k8s/components/monitoring/kustomization.yaml``: the component listing all of them;
- ``k8s/components/dev-dependencies/generated/otel-collector-config.yaml``: a copy of
  ``observability/otel-collector/config.yaml`` for that component's configMapGenerator;
- ``k8s/loadtest/generated/locustfiles-configmap.yaml``: the ``loadtests`` package and
  ``observability/slo.yaml`` as one ConfigMap the Locust pods mount, and
  ``locustfiles-volume-patch.yaml``: the pods' volume mounting each key back at its path.

Run from the repository root (``make k8s``; ``make lint`` runs ``--check``)::

    .venv/bin/python -m k8s.generate           # write the files
    .venv/bin/python -m k8s.generate --check   # write nothing; exit 1 naming stale files

Output is deterministic (sorted keys, stable order, a trailing newline), so ``--check`` is a
plain text comparison. The source and target roots are parameters (``--source-root``,
``--target-root``; :func:`render`, :func:`problems`, :func:`write`) so tests can work on copies.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
COMMAND = "make k8s"  # i.e. .venv/bin/python -m k8s.generate

# Sources, relative to the source root.
RULES_DIR = PurePosixPath("observability/prometheus/rules")
DASHBOARDS_DIR = PurePosixPath("observability/grafana/dashboards")
COLLECTOR_CONFIG = PurePosixPath("observability/otel-collector/config.yaml")
LOADTESTS_DIR = PurePosixPath("loadtests")
# The local drivers (wrk benchmark, soak) and what only they use: not Locust's.
LOADTESTS_EXCLUDED = frozenset({"bench.py", "soak.py", "local_server.py", "machine.py"})
SLO_FILE = PurePosixPath("observability/slo.yaml")

# Targets, relative to the target root. Every file in a generated/ directory is this
# module's: one it would not write is reported (--check) or removed (write).
MONITORING_DIR = PurePosixPath("k8s/components/monitoring")
MONITORING_GENERATED = MONITORING_DIR / "generated"
MONITORING_KUSTOMIZATION = MONITORING_DIR / "kustomization.yaml"
SERVICE_MONITOR = "servicemonitor.yaml"  # hand-written, listed first by the kustomization
COLLECTOR_GENERATED = PurePosixPath("k8s/components/dev-dependencies/generated")
COLLECTOR_TARGET = COLLECTOR_GENERATED / "otel-collector-config.yaml"
LOADTEST_GENERATED = PurePosixPath("k8s/loadtest/generated")
LOCUSTFILES_TARGET = LOADTEST_GENERATED / "locustfiles-configmap.yaml"
LOCUSTFILES_PATCH = LOADTEST_GENERATED / "locustfiles-volume-patch.yaml"
GENERATED_DIRS = (MONITORING_GENERATED, COLLECTOR_GENERATED, LOADTEST_GENERATED)

LOCUSTFILES_CONFIGMAP = "locustfiles"
LOCUSTFILES_VOLUME = "locustfiles"  # mounted at /mnt/locust (the pods' working directory)
# ConfigMap keys allow only [-._a-zA-Z0-9]: a path's "/" becomes "__" (the pods mount each
# key back at its path with `items:`).
KEY_SEPARATOR = "__"

APP_LABELS = {
    "app.kubernetes.io/name": "todo-api",
    "app.kubernetes.io/part-of": "todo-observability",
}
# kube-prometheus-stack's Prometheus selects rules (and ServiceMonitors) by its release name;
# its Grafana sidecar loads ConfigMaps labelled grafana_dashboard=1 into the folder named by
# the grafana_folder annotation (k8s/components/monitoring/README.md has the Helm values).
RELEASE_LABEL = {"release": "kube-prometheus-stack"}
DASHBOARD_LABEL = {"grafana_dashboard": "1"}
DASHBOARD_FOLDER = {"grafana_folder": "Todo API"}
LOCUST_LABELS = {
    "app.kubernetes.io/name": "locust",
    "app.kubernetes.io/part-of": "todo-observability",
    "app.kubernetes.io/component": "loadtest",
}


class GenerateError(Exception):
    """A source file cannot be turned into its manifest."""


@dataclass(frozen=True)
class Problem:
    """One generated file that differs from what the sources say it should be."""

    path: PurePosixPath
    kind: str  # "stale", "missing" or "extra"

    def __str__(self) -> str:
        return f"{self.kind}: {self.path}"


def header(sources: str, purpose: Sequence[str]) -> str:
    """The comment opening every generated file: where it comes from, why, who reads it."""
    lines = [f"GENERATED by k8s/generate.py from {sources}: do not edit; `{COMMAND}`", *purpose]
    return "".join(f"# {line}".rstrip() + "\n" for line in lines)


class _Dumper(yaml.SafeDumper):
    """Block scalars for multi-line strings, no anchors, indented sequences."""

    def ignore_aliases(self, data: Any) -> bool:
        return True

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, indentless=False)


def _str_presenter(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_presenter)


def dump(document: Mapping[str, Any]) -> str:
    """``document`` as YAML with sorted keys; raises if it would not read back identically."""
    text = yaml.dump(document, Dumper=_Dumper, sort_keys=True, width=100, allow_unicode=True)
    if yaml.safe_load(text) != document:  # a guard: a scalar style that changes the data
        raise GenerateError(f"YAML round trip changed {document.get('metadata')}")
    return text


def _read(source_root: Path, relative: PurePosixPath) -> str:
    try:
        # Bytes, decoded: no newline translation, so copies are byte for byte.
        return (source_root / relative).read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise GenerateError(f"cannot read {relative}: {error}") from error


def _sources(source_root: Path, directory: PurePosixPath, pattern: str) -> list[PurePosixPath]:
    found = sorted((source_root / directory).glob(pattern))
    return [directory / path.name for path in found if path.is_file()]


def prometheus_rule(name: str, source: PurePosixPath, text: str) -> str:
    """A PrometheusRule holding the groups of the rule file ``source`` (text ``text``)."""
    try:
        groups = (yaml.safe_load(text) or {}).get("groups")
    except yaml.YAMLError as error:
        raise GenerateError(f"{source} is not YAML: {error}") from error
    if not isinstance(groups, list) or not groups:
        raise GenerateError(f"{source} has no rule groups")
    document = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": f"todo-api-{name}", "labels": {**APP_LABELS, **RELEASE_LABEL}},
        "spec": {"groups": groups},
    }
    purpose = (
        "The rule file's groups, unchanged, for the Prometheus Operator (kube-prometheus-stack",
        "selects PrometheusRules by the `release` label; k8s/components/monitoring/README.md).",
    )
    return header(str(source), purpose) + dump(document)


def dashboard_uid(source: PurePosixPath, text: str) -> str:
    """The dashboard's ``uid`` (names its ConfigMap and the file Grafana loads)."""
    try:
        uid = json.loads(text).get("uid")
    except (json.JSONDecodeError, AttributeError) as error:
        raise GenerateError(f"{source} is not a dashboard JSON object: {error}") from error
    if not isinstance(uid, str) or not uid:
        raise GenerateError(f"{source} has no uid")
    return uid


def dashboard_configmap(uid: str, source: PurePosixPath, text: str) -> str:
    """A ConfigMap holding the dashboard JSON ``text`` byte for byte, for Grafana's sidecar."""
    document = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": f"dashboard-{uid}",
            "labels": {**APP_LABELS, **DASHBOARD_LABEL},
            "annotations": DASHBOARD_FOLDER,
        },
        "data": {f"{uid}.json": text},
    }
    purpose = (
        f"The Grafana dashboard {uid}, byte for byte, for the Grafana sidecar of",
        "kube-prometheus-stack (label grafana_dashboard=1, folder from the grafana_folder",
        "annotation; k8s/components/monitoring/README.md).",
    )
    return header(str(source), purpose) + dump(document)


def monitoring_kustomization(resources: Sequence[str]) -> str:
    """The monitoring component: the ServiceMonitor and every generated manifest."""
    document = {
        "apiVersion": "kustomize.config.k8s.io/v1alpha1",
        "kind": "Component",
        "resources": [SERVICE_MONITOR, *resources],
    }
    purpose = (
        "The monitoring component (kustomize Component; used by k8s/overlays/production and,",
        "optionally, k8s/overlays/dev): the ServiceMonitor (hand-written, servicemonitor.yaml)",
        "plus one PrometheusRule per rule file and one dashboard ConfigMap per dashboard.",
        "Needs the Prometheus Operator CRDs (kube-prometheus-stack): see README.md.",
    )
    sources = f"{RULES_DIR}/*.yml and {DASHBOARDS_DIR}/*.json"
    return header(sources, purpose) + dump(document)


def collector_config(text: str) -> str:
    """The collector configuration ``text`` unchanged, after the generated header."""
    purpose = (
        "The OpenTelemetry collector configuration of the compose stack, for the",
        "dev-dependencies component's configMapGenerator (key config.yaml). The original",
        "follows unchanged.",
        "",
    )
    return header(str(COLLECTOR_CONFIG), purpose) + text


def configmap_key(path: PurePosixPath) -> str:
    """The ConfigMap key of a path: ``loadtests/locustfile.py`` -> ``loadtests__locustfile.py``."""
    return KEY_SEPARATOR.join(path.parts)


def locust_files(source_root: Path) -> list[PurePosixPath]:
    """The files the Locust pods need: the ``loadtests`` package (no drivers) and the SLO."""
    modules = [
        path
        for path in _sources(source_root, LOADTESTS_DIR, "*.py")
        if path.name not in LOADTESTS_EXCLUDED
    ]
    return [*modules, SLO_FILE]


def locustfiles_configmap(files: Mapping[PurePosixPath, str]) -> str:
    """One ConfigMap holding every Locust file, keyed by :func:`configmap_key`."""
    document = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": LOCUSTFILES_CONFIGMAP, "labels": LOCUST_LABELS},
        "data": {configmap_key(path): text for path, text in files.items()},
    }
    purpose = (
        "The Locust scenario (the loadtests package without its local drivers bench.py and",
        "soak.py and their local_server.py and machine.py) and the SLO file, for the load",
        "test's master Job and worker Deployment",
        "(k8s/loadtest), which mount each key back at its path (loadtests/locustfile.py,",
        "observability/slo.yaml, ...) with `items:`.",
    )
    sources = f"{LOADTESTS_DIR}/*.py and {SLO_FILE}"
    return header(sources, purpose) + dump(document)


def locustfiles_volume_patch(paths: Sequence[PurePosixPath]) -> str:
    """A patch giving a pod template the ``locustfiles`` volume: each key at its path."""
    items = [{"key": configmap_key(path), "path": str(path)} for path in paths]
    volume = {
        "name": LOCUSTFILES_VOLUME,
        "configMap": {"name": LOCUSTFILES_CONFIGMAP, "items": items},
    }
    document = {
        # kustomization.yaml applies this to its targets (the master Job and the worker
        # Deployment: both have spec.template); the kind and name here only make it parse.
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "locust-pods"},
        "spec": {"template": {"spec": {"volumes": [volume]}}},
    }
    purpose = (
        "The `locustfiles` volume of the Locust master Job and worker Deployment: the",
        "ConfigMap of locustfiles-configmap.yaml with each key mounted back at its path, so",
        "the pods see loadtests/locustfile.py, loadtests/users.py, ..., observability/slo.yaml",
        "under /mnt/locust. A strategic-merge patch, applied by k8s/loadtest/kustomization.yaml.",
    )
    sources = f"{LOADTESTS_DIR}/*.py and {SLO_FILE}"
    return header(sources, purpose) + dump(document)


def render(source_root: Path = REPO_ROOT) -> dict[PurePosixPath, str]:
    """Every generated file's path (relative to the target root) and text, in a stable order."""
    outputs: dict[PurePosixPath, str] = {}
    monitoring: list[str] = []
    for source in _sources(source_root, RULES_DIR, "*.yml"):
        name = PurePosixPath(source.name).stem
        target = MONITORING_GENERATED / f"prometheusrule-{name}.yaml"
        outputs[target] = prometheus_rule(name, source, _read(source_root, source))
        monitoring.append(str(target.relative_to(MONITORING_DIR)))
    uids: dict[str, PurePosixPath] = {}
    for source in _sources(source_root, DASHBOARDS_DIR, "*.json"):
        text = _read(source_root, source)
        uid = dashboard_uid(source, text)
        if uid in uids:
            raise GenerateError(f"{source} and {uids[uid]} share the uid {uid}")
        uids[uid] = source
        target = MONITORING_GENERATED / f"dashboard-{uid}.yaml"
        outputs[target] = dashboard_configmap(uid, source, text)
        monitoring.append(str(target.relative_to(MONITORING_DIR)))
    outputs[MONITORING_KUSTOMIZATION] = monitoring_kustomization(monitoring)
    outputs[COLLECTOR_TARGET] = collector_config(_read(source_root, COLLECTOR_CONFIG))
    files = {path: _read(source_root, path) for path in locust_files(source_root)}
    outputs[LOCUSTFILES_TARGET] = locustfiles_configmap(files)
    outputs[LOCUSTFILES_PATCH] = locustfiles_volume_patch(list(files))
    return outputs


def _existing(target_root: Path) -> set[PurePosixPath]:
    """Every file now in a generated/ directory, relative to the target root."""
    found: set[PurePosixPath] = set()
    for directory in GENERATED_DIRS:
        root = target_root / directory
        if root.is_dir():
            found.update(
                PurePosixPath(path.relative_to(target_root).as_posix())
                for path in root.rglob("*")
                if path.is_file()
            )
    return found


def problems(outputs: Mapping[PurePosixPath, str], target_root: Path = REPO_ROOT) -> list[Problem]:
    """What differs between ``outputs`` and the files under ``target_root``, sorted by path."""
    found: list[Problem] = []
    for path, text in outputs.items():
        file = target_root / path
        if not file.is_file():
            found.append(Problem(path, "missing"))
        elif file.read_bytes() != text.encode("utf-8"):
            found.append(Problem(path, "stale"))
    found.extend(Problem(path, "extra") for path in _existing(target_root) - set(outputs))
    return sorted(found, key=lambda problem: str(problem.path))


def write(outputs: Mapping[PurePosixPath, str], target_root: Path = REPO_ROOT) -> list[Problem]:
    """Bring the files under ``target_root`` in line with ``outputs``; returns what changed."""
    changed = problems(outputs, target_root)
    for problem in changed:
        file = target_root / problem.path
        if problem.kind == "extra":
            file.unlink()
        else:
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_bytes(outputs[problem.path].encode("utf-8"))
    return changed


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")


def main(argv: Sequence[str] | None = None, *, out: Callable[[str], object] = _say) -> int:
    """Write the generated manifests, or with ``--check`` report those that are out of date."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if stale")
    parser.add_argument("--source-root", type=Path, default=REPO_ROOT, help=argparse.SUPPRESS)
    parser.add_argument("--target-root", type=Path, default=REPO_ROOT, help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    try:
        outputs = render(arguments.source_root)
    except GenerateError as error:
        out(f"k8s/generate.py: {error}")
        return 2
    if arguments.check:
        found = problems(outputs, arguments.target_root)
        for problem in found:
            out(f"{problem} (run `{COMMAND}`)")
        return 1 if found else 0
    for problem in write(outputs, arguments.target_root):
        out(f"{'removed' if problem.kind == 'extra' else 'wrote'} {problem.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

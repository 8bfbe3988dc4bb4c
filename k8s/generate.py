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
- ``k8s/overlays/<overlay>/generated/``, for each overlay with a ``monitoring-links.yaml``
  (the Grafana and runbook base URLs of that deployment): a kustomize Component of JSON
  patches that rebase every alert's ``dashboard_url`` and ``runbook_url`` from the SLO
  model's links (observability/slo.py: the compose stack's) onto the overlay's;
- ``k8s/components/dev-dependencies/generated/otel-collector-config.yaml``: a copy of
  ``observability/otel-collector/config.yaml`` for that component's configMapGenerator;
- ``k8s/loadtest/generated/locustfiles-configmap.yaml``: the ``loadtests`` package, the SLO
  model ``observability/slo.py`` and ``observability/slo.yaml`` as one ConfigMap the Locust
  pods mount, and ``locustfiles-volume-patch.yaml``: the pods' volume mounting each key back
  at its path.

Run from the repository root (``make generate`` runs it after the rules and dashboards, ``make k8s``
alone; ``make lint`` runs ``--check``)::

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

from observability.slo import Links, SloError, load_slo, parse_links

REPO_ROOT = Path(__file__).resolve().parents[1]
COMMAND = "make generate"  # rules, dashboards, then this module (`make k8s`: this alone)

# Sources, relative to the source root.
RULES_DIR = PurePosixPath("observability/prometheus/rules")
DASHBOARDS_DIR = PurePosixPath("observability/grafana/dashboards")
COLLECTOR_CONFIG = PurePosixPath("observability/otel-collector/config.yaml")
LOADTESTS_DIR = PurePosixPath("loadtests")
# The local drivers (wrk and callgrind benchmarks, soak) and what only they use: not Locust's.
LOADTESTS_EXCLUDED = frozenset(
    {"bench.py", "instructions.py", "soak.py", "local_server.py", "machine.py"}
)
SLO_FILE = PurePosixPath("observability/slo.yaml")
SLO_MODULE = PurePosixPath("observability/slo.py")  # the SLO model the gate imports

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
OVERLAYS_DIR = PurePosixPath("k8s/overlays")  # each overlay's generated/ is this module's too
OVERLAY_LINKS = "monitoring-links.yaml"  # an overlay's Grafana and runbook base URLs
LINK_ANNOTATIONS = ("dashboard_url", "runbook_url")

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
    groups = _groups(source, text)
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
    """The files the Locust pods need: the ``loadtests`` package (no drivers), the SLO model
    and the SLO file."""
    modules = [
        path
        for path in _sources(source_root, LOADTESTS_DIR, "*.py")
        if path.name not in LOADTESTS_EXCLUDED
    ]
    return [*modules, SLO_MODULE, SLO_FILE]


def locustfiles_configmap(files: Mapping[PurePosixPath, str]) -> str:
    """One ConfigMap holding every Locust file, keyed by :func:`configmap_key`."""
    document = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": LOCUSTFILES_CONFIGMAP, "labels": LOCUST_LABELS},
        "data": {configmap_key(path): text for path, text in files.items()},
    }
    purpose = (
        "The Locust scenario (the loadtests package without its local drivers bench.py,",
        "instructions.py and soak.py and their local_server.py and machine.py), the SLO model",
        "and the SLO file, for the load test's master Job and worker Deployment",
        "(k8s/loadtest), which mount each key back at its path (loadtests/locustfile.py,",
        "observability/slo.py, observability/slo.yaml, ...) with `items:`.",
    )
    sources = f"{LOADTESTS_DIR}/*.py, {SLO_MODULE} and {SLO_FILE}"
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
        "the pods see loadtests/locustfile.py, loadtests/users.py, ..., observability/slo.py",
        "and observability/slo.yaml under /mnt/locust. A strategic-merge patch, applied by",
        "k8s/loadtest/kustomization.yaml.",
    )
    sources = f"{LOADTESTS_DIR}/*.py, {SLO_MODULE} and {SLO_FILE}"
    return header(sources, purpose) + dump(document)


def _groups(source: PurePosixPath, text: str) -> list[Any]:
    """The rule groups of the rule file ``source`` (text ``text``)."""
    try:
        groups = (yaml.safe_load(text) or {}).get("groups")
    except yaml.YAMLError as error:
        raise GenerateError(f"{source} is not YAML: {error}") from error
    if not isinstance(groups, list) or not groups:
        raise GenerateError(f"{source} has no rule groups")
    return groups


def link_operations(
    source: PurePosixPath, text: str, written: Links, wanted: Links
) -> list[dict[str, str]]:
    """JSON patch operations turning the alerts' links of a PrometheusRule made from the rule
    file ``source`` from ``written`` (the links the rule files carry) into ``wanted``'s.

    Each ``replace`` follows a ``test`` of the old value, so a patch applied to a rule file it
    was not made from fails instead of changing the wrong alert.
    """
    operations: list[dict[str, str]] = []
    for group_index, group in enumerate(_groups(source, text)):
        for rule_index, rule in enumerate(group.get("rules") or []):
            annotations = rule.get("annotations") or {}
            for key in LINK_ANNOTATIONS:
                if key not in annotations:
                    continue
                old = str(annotations[key])
                new = written.rebase(old, wanted)
                if new == old and written != wanted:
                    raise GenerateError(
                        f"{source}: {rule.get('alert')} {key} {old!r} is not under the SLO "
                        f"model's links ({written.grafana_url}, {written.runbook_url})"
                    )
                path = f"/spec/groups/{group_index}/rules/{rule_index}/annotations/{key}"
                operations.append({"op": "test", "path": path, "value": old})
                operations.append({"op": "replace", "path": path, "value": new})
    return operations


def overlay_links(source_root: Path) -> dict[str, Links]:
    """Each overlay's links (``k8s/overlays/<name>/monitoring-links.yaml``), by overlay name."""
    found: dict[str, Links] = {}
    for path in sorted((source_root / OVERLAYS_DIR).glob(f"*/{OVERLAY_LINKS}")):
        relative = OVERLAYS_DIR / path.parent.name / OVERLAY_LINKS
        try:
            found[path.parent.name] = parse_links(
                yaml.safe_load(_read(source_root, relative)), source=Path(str(relative))
            )
        except (yaml.YAMLError, SloError) as error:
            raise GenerateError(f"{relative}: {error}") from error
    return found


def links_patch(rule_name: str, overlay: str, operations: list[dict[str, str]]) -> str:
    """The JSON patch (as YAML) giving the PrometheusRule ``rule_name`` an overlay's links."""
    purpose = (
        f"JSON patch operations giving the PrometheusRule todo-api-{rule_name} the links of",
        f"the {overlay} overlay ({OVERLAYS_DIR}/{overlay}/{OVERLAY_LINKS}): each alert's",
        "dashboard_url and runbook_url rebased from the SLO model's (observability/slo.py).",
    )
    text = yaml.dump(operations, Dumper=_Dumper, sort_keys=True, width=100)
    return header(f"{RULES_DIR}/{rule_name}.yml", purpose) + text


def links_component(overlay: str, patches: Mapping[str, str]) -> str:
    """The overlay's Component applying each patch to its PrometheusRule (``patches``: rule
    file name -> patch file name)."""
    document = {
        "apiVersion": "kustomize.config.k8s.io/v1alpha1",
        "kind": "Component",
        "patches": [
            {
                "path": patch,
                "target": {
                    "group": "monitoring.coreos.com",
                    "version": "v1",
                    "kind": "PrometheusRule",
                    "name": f"todo-api-{rule_name}",
                },
            }
            for rule_name, patch in patches.items()
        ],
    }
    purpose = (
        f"The {overlay} overlay's alert links: listed after ../../components/monitoring in",
        f"{OVERLAYS_DIR}/{overlay}/kustomization.yaml, it patches that component's",
        f"PrometheusRules so dashboard_url and runbook_url carry {OVERLAY_LINKS}'s bases.",
    )
    sources = f"{RULES_DIR}/*.yml and {OVERLAYS_DIR}/{overlay}/{OVERLAY_LINKS}"
    return header(sources, purpose) + dump(document)


def _overlay_outputs(
    source_root: Path, rules: Mapping[PurePosixPath, str]
) -> dict[PurePosixPath, str]:
    """Every overlay's links Component and patches, for ``rules`` (rule file -> text)."""
    try:
        written = load_slo(source_root / SLO_FILE).links
    except SloError as error:
        raise GenerateError(str(error)) from error
    outputs: dict[PurePosixPath, str] = {}
    for overlay, wanted in overlay_links(source_root).items():
        generated = OVERLAYS_DIR / overlay / "generated"
        patches: dict[str, str] = {}
        for source, text in rules.items():
            operations = link_operations(source, text, written, wanted)
            if operations:
                rule_name = PurePosixPath(source.name).stem
                patch = f"prometheusrule-{rule_name}-links.yaml"
                outputs[generated / patch] = links_patch(rule_name, overlay, operations)
                patches[rule_name] = patch
        outputs[generated / "kustomization.yaml"] = links_component(overlay, patches)
    return outputs


def render(source_root: Path = REPO_ROOT) -> dict[PurePosixPath, str]:
    """Every generated file's path (relative to the target root) and text, in a stable order."""
    outputs: dict[PurePosixPath, str] = {}
    monitoring: list[str] = []
    rules = {path: _read(source_root, path) for path in _sources(source_root, RULES_DIR, "*.yml")}
    for source, text in rules.items():
        name = PurePosixPath(source.name).stem
        target = MONITORING_GENERATED / f"prometheusrule-{name}.yaml"
        outputs[target] = prometheus_rule(name, source, text)
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
    outputs.update(_overlay_outputs(source_root, rules))
    return outputs


def _existing(target_root: Path) -> set[PurePosixPath]:
    """Every file now in a generated/ directory, relative to the target root."""
    found: set[PurePosixPath] = set()
    overlays = sorted((target_root / OVERLAYS_DIR).glob("*/generated"))
    overlay_dirs = [OVERLAYS_DIR / path.parent.name / path.name for path in overlays]
    for directory in (*GENERATED_DIRS, *overlay_dirs):
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

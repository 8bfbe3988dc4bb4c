"""Every rendered object validates, strictly, against the schema of its kind.

Built-in kinds: the OpenAPI-derived JSON schemas that kubernetes-validate ships for the oldest
and the newest supported Kubernetes release (k8s.validate.KUBERNETES_VERSIONS), in their
strict flavour (unknown fields are errors, as `kubectl apply --validate=strict` makes them).
Custom resources (prometheus-operator's ServiceMonitor, PrometheusRule): the strict schemas
vendored in k8s/schemas/ (see its README.md). A kind with neither fails: a typo'd apiVersion
must not pass unchecked. The vendored schemas are tested too: they accept correct objects and
reject misspelled fields and wrong types.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema
import kubernetes_validate
import pytest

from k8s.schemas.export_crd_schemas import strict
from k8s.validate import KUBERNETES_VERSIONS, SCHEMAS_DIR, crd_schema_path, problems
from tests.k8s.render import TARGET_NAMES, Object, render

SOURCE = "cloudcoil-models-prometheus-operator==0.80.1.0"
UPSTREAM = "v0.80.1"
CRD_KINDS = ("ServiceMonitor", "PrometheusRule")


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("name", TARGET_NAMES)
def test_rendered_objects_validate_strictly(name: str, version: str) -> None:
    """Each object of the target is valid for that Kubernetes release or its vendored CRD
    schema."""
    found = [problem for obj in render(name) for problem in problems(obj, version)]
    assert not found, f"{name} (Kubernetes {version}):\n" + "\n".join(found)


def test_the_newest_version_checked_is_the_newest_kubernetes_validate_knows() -> None:
    """Upgrading kubernetes-validate brings a newer release's schemas: check against it."""
    assert KUBERNETES_VERSIONS[-1] == kubernetes_validate.latest_version()


# ------------------------------------------------------------------ the validators themselves

CONFIG_MAP: Object = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "example", "namespace": "todo"},
    "data": {"KEY": "value"},
}
DEPLOYMENT: Object = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "example"},
    "spec": {
        "selector": {"matchLabels": {"app": "example"}},
        "template": {
            "metadata": {"labels": {"app": "example"}},
            "spec": {
                "containers": [
                    {
                        "name": "app",
                        "image": "example:1.0",
                        "lifecycle": {"preStop": {"sleep": {"seconds": 5}}},
                    }
                ]
            },
        },
    },
}
SERVICE_MONITOR: Object = {
    "apiVersion": "monitoring.coreos.com/v1",
    "kind": "ServiceMonitor",
    "metadata": {"name": "todo-api", "labels": {"release": "kube-prometheus-stack"}},
    "spec": {
        "selector": {"matchLabels": {"app.kubernetes.io/name": "todo-api"}},
        "namespaceSelector": {"matchNames": ["todo"]},
        "endpoints": [
            {"port": "metrics", "path": "/metrics", "interval": "15s", "scrapeTimeout": "10s"}
        ],
    },
}
PROMETHEUS_RULE: Object = {
    "apiVersion": "monitoring.coreos.com/v1",
    "kind": "PrometheusRule",
    "metadata": {"name": "todo-api-slo", "labels": {"release": "kube-prometheus-stack"}},
    "spec": {
        "groups": [
            {
                "name": "todo-api",
                "interval": "30s",
                "rules": [
                    {"record": "job:up:sum", "expr": 'sum by (job) (up{job="todo-api"})'},
                    {
                        "alert": "TodoApiDown",
                        "expr": 'up{job="todo-api"} == 0',
                        "for": "5m",
                        "keep_firing_for": "1m",
                        "labels": {"severity": "page"},
                        "annotations": {"summary": "todo-api is down"},
                    },
                ],
            }
        ]
    },
}


def _changed(obj: Object, path: list[str | int], value: Any) -> Object:
    """A deep copy of ``obj`` with the key at ``path`` set to ``value``."""
    result = copy.deepcopy(obj)
    node: Any = result
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return result


def _renamed(obj: Object, path: list[str | int], new_key: str) -> Object:
    """A deep copy of ``obj`` with the last key of ``path`` renamed to ``new_key``."""
    result = copy.deepcopy(obj)
    node: Any = result
    for part in path[:-1]:
        node = node[part]
    node[new_key] = node.pop(path[-1])
    return result


@pytest.mark.parametrize("obj", [CONFIG_MAP, DEPLOYMENT, SERVICE_MONITOR, PROMETHEUS_RULE])
def test_correct_objects_validate(obj: Object) -> None:
    """Well-formed objects of each kind pass (the preStop sleep action included)."""
    assert problems(obj) == []


@pytest.mark.parametrize(
    ("obj", "path", "new_key"),
    [
        (CONFIG_MAP, ["metadata", "name"], "nmae"),
        (DEPLOYMENT, ["spec", "template", "spec", "containers", 0, "image"], "imgae"),
        (SERVICE_MONITOR, ["spec", "endpoints", 0, "scrapeTimeout"], "scrapeTimout"),
        (SERVICE_MONITOR, ["spec", "selector", "matchLabels"], "matchLabel"),
        (SERVICE_MONITOR, ["metadata", "labels"], "lables"),
        (PROMETHEUS_RULE, ["spec", "groups", 0, "rules", 1, "for"], "for_"),
        (PROMETHEUS_RULE, ["spec", "groups", 0, "rules", 1, "keep_firing_for"], "keepFiringFor"),
    ],
)
def test_misspelled_fields_are_rejected(obj: Object, path: list[str | int], new_key: str) -> None:
    """Strict validation: an unknown (misspelled) field anywhere is an error."""
    found = problems(_renamed(obj, path, new_key))
    assert found, f"{new_key!r} instead of {path[-1]!r} passed validation"
    assert any(new_key in problem for problem in found), found


@pytest.mark.parametrize(
    ("obj", "path", "value"),
    [
        (CONFIG_MAP, ["data"], ["not", "a", "map"]),
        (DEPLOYMENT, ["spec", "replicas"], "three"),
        (SERVICE_MONITOR, ["spec", "endpoints"], "metrics"),
        (SERVICE_MONITOR, ["spec", "endpoints", 0, "interval"], 30),
        (SERVICE_MONITOR, ["spec", "endpoints", 0, "interval"], "30 seconds"),
        (SERVICE_MONITOR, ["spec", "endpoints", 0, "scheme"], "ftp"),
        (PROMETHEUS_RULE, ["spec", "groups", 0, "rules", 1, "for"], 300),
        (PROMETHEUS_RULE, ["spec", "groups", 0, "rules", 1, "labels"], {"severity": 1}),
        (PROMETHEUS_RULE, ["spec", "groups", 0, "rules", 0, "expr"], None),
        (PROMETHEUS_RULE, ["kind"], "PrometheusRules"),
    ],
)
def test_wrong_types_and_values_are_rejected(
    obj: Object, path: list[str | int], value: Any
) -> None:
    """Wrong types, enum values and patterns are errors."""
    assert problems(_changed(obj, path, value)), f"{path} = {value!r} passed validation"


def test_missing_required_fields_are_rejected() -> None:
    """A ServiceMonitor needs a selector and endpoints; a rule group needs a name."""
    monitor = copy.deepcopy(SERVICE_MONITOR)
    del monitor["spec"]["selector"]
    assert problems(monitor)
    rule = copy.deepcopy(PROMETHEUS_RULE)
    del rule["spec"]["groups"][0]["name"]
    assert problems(rule)


def test_a_kind_without_a_schema_fails() -> None:
    """No silent pass: an unknown kind or API version is reported."""
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    assert any("no schema" in problem for problem in problems(widget))
    typo = {**CONFIG_MAP, "apiVersion": "v2"}
    assert any("no schema" in problem for problem in problems(typo))


# ------------------------------------------------------------------ the vendored schemas


@pytest.mark.parametrize("kind", CRD_KINDS)
def test_vendored_schema_is_strict_and_names_its_source(kind: str) -> None:
    """Each schema is a valid 2020-12 schema, says where it came from, closes every object
    with declared properties, and uses the Kubernetes (camelCase) field names."""
    path = crd_schema_path("monitoring.coreos.com/v1", kind)
    text = path.read_text(encoding="utf-8")
    schema = json.loads(text)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert SOURCE in schema["$comment"], schema["$comment"]
    assert text == json.dumps(schema, indent=2, sort_keys=True) + "\n", (
        f"{path.name} is not pretty-printed with sorted keys (regenerate, see README.md)"
    )
    open_objects: list[str] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            if node.get("properties") and node.get("additionalProperties") is not False:
                open_objects.append(where)
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{where}/{index}")

    walk(schema, "")
    assert not open_objects, f"{path.name}: objects accepting unknown keys: {open_objects}"
    assert '{"type": "null"}' not in json.dumps(schema), f"{path.name} accepts null values"


def test_servicemonitor_schema_uses_kubernetes_field_names() -> None:
    """Aliases, not the Python attribute names, are the properties."""
    text = crd_schema_path("monitoring.coreos.com/v1", "ServiceMonitor").read_text("utf-8")
    for field in ("scrapeTimeout", "matchLabels", "honorLabels", "namespaceSelector", "jobLabel"):
        assert f'"{field}"' in text, field
    for python_name in ("scrape_timeout", "match_labels", "honor_labels", "job_label"):
        assert f'"{python_name}"' not in text, python_name


def test_schemas_readme_names_source_versions_and_licence() -> None:
    """k8s/schemas/README.md says where the schemas come from and how to regenerate them."""
    readme = (SCHEMAS_DIR / "README.md").read_text(encoding="utf-8")
    for needle in (SOURCE, UPSTREAM, "Apache-2.0", "export_crd_schemas.py"):
        assert needle in readme, f"k8s/schemas/README.md does not mention {needle}"


def test_export_post_processing() -> None:
    """The export script closes objects, drops null alternatives and pydantic noise, and
    keeps required/enum/pattern and free-form maps."""
    model = {
        "title": "Thing",
        "type": "object",
        "properties": {
            "title": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
            "mode": {"anyOf": [{"enum": ["a", "b"], "type": "string"}, {"type": "null"}]},
            "port": {"anyOf": [{"type": "integer"}, {"type": "string"}, {"type": "null"}]},
            "labels": {"additionalProperties": {"type": "string"}, "type": "object"},
            "free": {"properties": {}, "type": "object"},
        },
        "required": ["mode"],
    }
    assert strict(model) == {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "title": {"type": "string"},
            "mode": {"enum": ["a", "b"], "type": "string"},
            "port": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
            "labels": {"additionalProperties": {"type": "string"}, "type": "object"},
            "free": {"properties": {}, "type": "object"},
        },
        "required": ["mode"],
    }

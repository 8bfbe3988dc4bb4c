"""Validate rendered Kubernetes manifests offline, strictly (unknown fields are errors).

Built-in kinds are checked against the JSON schemas of a pinned Kubernetes version that
kubernetes-validate ships; custom resources (ServiceMonitor, PrometheusRule) against the CRD
schemas vendored in ``k8s/schemas/`` (see its README). A kind with no schema is an error, not
a pass. Used by ``make lint`` (``kubectl kustomize <dir> > f.yaml``, then this on ``f.yaml``)
and by tests/k8s.

    python -m k8s.validate [--kubernetes-version 1.35.0 ...] rendered.yaml [...]

By default every object must validate against both ends of the supported range
(``KUBERNETES_VERSIONS``): a field added after the oldest release, or dropped before the
newest, fails.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

# The oldest Kubernetes minor still supported upstream (1.35: maintenance mode from
# 2026-12-28, end of life 2027-02-28, per kubernetes.io/releases) and the newest one
# kubernetes-validate ships schemas for. Move the first on when it reaches end of life, the
# second when kubernetes-validate is upgraded (tests/k8s/test_schemas.py checks it is the newest).
KUBERNETES_VERSIONS = ("1.35.0", "1.37.0")
KUBERNETES_VERSION = KUBERNETES_VERSIONS[0]
SCHEMAS_DIR = Path(__file__).resolve().parent / "schemas"


def load_objects(text: str) -> list[dict[str, Any]]:
    """The objects of a multi-document YAML stream (empty documents dropped)."""
    return [document for document in yaml.safe_load_all(text) if document]


def describe(obj: dict[str, Any]) -> str:
    """``Kind/namespace/name`` (or ``Kind/name``) of an object, for messages."""
    metadata = obj.get("metadata") or {}
    namespace, name = metadata.get("namespace"), metadata.get("name")
    return f"{obj.get('kind')}/{namespace}/{name}" if namespace else f"{obj.get('kind')}/{name}"


def crd_schema_path(api_version: str, kind: str) -> Path:
    """Where the vendored schema of a custom resource kind lives."""
    return SCHEMAS_DIR / f"{api_version.replace('/', '_')}_{kind.lower()}.json"


@cache
def crd_validator(api_version: str, kind: str) -> jsonschema.Draft202012Validator | None:
    """A validator for the vendored schema of ``kind``, or None when none is vendored."""
    path = crd_schema_path(api_version, kind)
    if not path.exists():
        return None
    schema = json.loads(path.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _path(error: jsonschema.ValidationError) -> str:
    return "/".join(str(part) for part in error.absolute_path) or "(top)"


def problems(obj: dict[str, Any], kubernetes_version: str = KUBERNETES_VERSION) -> list[str]:
    """Why ``obj`` does not validate (empty when it does); a kind without a schema is one."""
    api_version, kind = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
    validator = crd_validator(api_version, kind)
    if validator is not None:
        return [
            f"{describe(obj)}: {_path(error)}: {error.message}"
            for error in sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path))
        ]
    try:
        kubernetes_validate.validate(obj, kubernetes_version, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return [
            f"{describe(obj)}: no schema for {kind} {api_version} in Kubernetes "
            f"{kubernetes_version} nor in k8s/schemas/ (vendor one: k8s/schemas/README.md)"
        ]
    except kubernetes_validate.ValidationError as error:
        return [f"{describe(obj)}: {_path(error)}: {error.message}"]
    return []


def all_problems(
    objects: Iterable[dict[str, Any]], kubernetes_version: str = KUBERNETES_VERSION
) -> list[str]:
    """Every problem of every object."""
    return [message for obj in objects for message in problems(obj, kubernetes_version)]


def main(argv: list[str] | None = None) -> int:
    """Validate the files named on the command line; print each problem; exit 1 if any."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--kubernetes-version",
        action="append",
        dest="versions",
        help=f"repeatable; default: {' and '.join(KUBERNETES_VERSIONS)}",
    )
    parser.add_argument("files", nargs="+", type=Path)
    arguments = parser.parse_args(argv)
    versions: list[str] = arguments.versions or list(KUBERNETES_VERSIONS)
    found: list[str] = []
    count = 0
    for path in arguments.files:
        objects = load_objects(path.read_text(encoding="utf-8"))
        count += len(objects)
        for version in versions:
            found += [f"[{version}] {message}" for message in all_problems(objects, version)]
    for message in found:
        sys.stderr.write(message + "\n")
    sys.stdout.write(f"{count} objects, {len(found)} problems (Kubernetes {', '.join(versions)})\n")
    return 1 if found or count == 0 else 0


if __name__ == "__main__":
    sys.exit(main())

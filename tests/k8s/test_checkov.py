"""checkov's Kubernetes checks pass on every render target, but for the accepted findings.

Accepted findings come in two forms, both with a reason:
- k8s/checkov-skips.yaml: check id -> reason, for every resource of every target;
- checkov's own inline annotations on one object, `checkov.io/skipN: CKV_K8S_40=reason`, for
  that object only (the load test's Locust pods use them, see k8s/loadtest/README.md).
checkov runs once per session over every target's rendered YAML with the inline annotations
removed, so each acceptance is checked against what really fails: a failed check that is not
accepted fails the test, and so does an acceptance that hides nothing (stale, or not a checkov
id) or that gives no reason.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.k8s.render import K8S, REPO, TARGET_NAMES, Object, render

# checkov lives in its own virtualenv (`make checkov-env`, from requirements/checkov.txt): its
# pins stay out of the project's lock. CHECKOV=/path/to/checkov points at another one.
CHECKOV = Path(os.environ.get("CHECKOV") or REPO / ".venv-checkov" / "bin" / "checkov")
SKIPS_FILE = K8S / "checkov-skips.yaml"
INLINE_SKIP = re.compile(r"^checkov\.io/skip\d+$")
CHECK_ID = re.compile(r"\bCKV2?_K8S_\d+\b")
CHECKOV_ARGS = ("--framework", "kubernetes", "--output", "json", "--quiet", "--compact")
# No Prisma Cloud look-ups (offline), and no .checkov.yaml picked up from the working directory.
OFFLINE = ("--skip-download",)


@dataclass(frozen=True)
class Failure:
    """One failed checkov check on one resource of a render target."""

    target: str
    check_id: str
    check_name: str
    resource: str

    def __str__(self) -> str:
        return f"{self.target}: {self.check_id} ({self.check_name}) on {self.resource}"


def without_inline_skips(obj: Object) -> Object:
    """A copy of ``obj`` without `checkov.io/skipN` annotations (on the object and on its pod
    template): checkov then reports everything that really fails."""

    def strip(metadata: dict[str, Any]) -> dict[str, Any]:
        annotations = {
            key: value
            for key, value in (metadata.get("annotations") or {}).items()
            if not INLINE_SKIP.match(key)
        }
        result = {key: value for key, value in metadata.items() if key != "annotations"}
        if annotations:
            result["annotations"] = annotations
        return result

    copy: Object = json.loads(json.dumps(obj))
    copy["metadata"] = strip(copy.get("metadata") or {})
    template = (copy.get("spec") or {}).get("template")
    if isinstance(template, dict) and "metadata" in template:
        template["metadata"] = strip(template["metadata"])
    return copy


def _checkov() -> Path:
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV} is missing: `make checkov-env` installs requirements/checkov.txt")
    return CHECKOV


def _reports(output: str) -> list[dict[str, Any]]:
    """checkov's JSON: one report, a list of them (several frameworks), or a bare summary."""
    data = json.loads(output)
    reports = data if isinstance(data, list) else [data]
    return [report if "summary" in report else {"summary": report} for report in reports]


@cache
def checkov_failures() -> tuple[Failure, ...]:
    """Every failed check over all render targets (one checkov run per session)."""
    with tempfile.TemporaryDirectory(prefix="k8s-checkov-") as tmp:
        here = Path(tmp)
        for name in TARGET_NAMES:
            objects = [without_inline_skips(obj) for obj in render(name)]
            (here / f"{name}.yaml").write_text(
                yaml.safe_dump_all(objects, sort_keys=False), encoding="utf-8"
            )
        result = subprocess.run(
            [str(_checkov()), *CHECKOV_ARGS, *OFFLINE, "-d", str(here)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            cwd=here,
        )
    assert result.returncode in (0, 1), f"checkov failed to run:\n{result.stdout}{result.stderr}"
    failures = []
    for report in _reports(result.stdout):
        summary = report["summary"]
        assert summary.get("parsing_errors", 0) == 0, f"checkov could not parse: {summary}"
        assert summary.get("resource_count", 0) > 0, f"checkov found no resources: {summary}"
        for check in (report.get("results") or {}).get("failed_checks") or []:
            failures.append(
                Failure(
                    target=Path(check["file_path"]).stem,
                    check_id=check["check_id"],
                    check_name=check["check_name"],
                    resource=check["resource"],
                )
            )
    return tuple(failures)


def accepted_skips() -> dict[str, str]:
    """k8s/checkov-skips.yaml: check id -> why the finding is accepted."""
    assert SKIPS_FILE.exists(), f"{SKIPS_FILE.relative_to(REPO)} is missing"
    data = yaml.safe_load(SKIPS_FILE.read_text(encoding="utf-8")) or {}
    assert isinstance(data, dict), f"{SKIPS_FILE.name}: want a mapping check_id -> reason"
    return {str(key): "" if value is None else str(value) for key, value in data.items()}


@cache
def known_check_ids() -> frozenset[str]:
    """The Kubernetes check ids checkov knows (`checkov --list`)."""
    result = subprocess.run(
        [str(_checkov()), "--framework", "kubernetes", "--list", *OFFLINE],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"checkov --list failed:\n{result.stdout}{result.stderr}"
    return frozenset(CHECK_ID.findall(result.stdout))


@dataclass(frozen=True)
class InlineSkip:
    """A `checkov.io/skipN: CHECK_ID=reason` annotation on one rendered object."""

    target: str
    resource: str  # as checkov names it: Kind.namespace.name
    check_id: str
    reason: str
    annotation: str

    def __str__(self) -> str:
        return f"{self.target}: {self.resource} {self.annotation}"


def resource_id(obj: Object) -> str:
    """checkov's name for a rendered object (``default`` when it has no namespace)."""
    metadata = obj.get("metadata") or {}
    return f"{obj.get('kind')}.{metadata.get('namespace') or 'default'}.{metadata.get('name')}"


def inline_skips(name: str) -> list[InlineSkip]:
    """The inline checkov skip annotations on the objects of the target ``name``."""
    found = []
    for obj in render(name):
        for key, value in ((obj.get("metadata") or {}).get("annotations") or {}).items():
            if INLINE_SKIP.match(key):
                check_id, _, reason = str(value).partition("=")
                found.append(
                    InlineSkip(name, resource_id(obj), check_id.strip(), reason.strip(), key)
                )
    return found


@pytest.mark.parametrize("name", TARGET_NAMES)
def test_no_unaccepted_checkov_failures(name: str) -> None:
    """Every check checkov fails on the target is accepted: listed in k8s/checkov-skips.yaml
    or skipped, with a reason, by an annotation on that very object."""
    skips = accepted_skips()
    inline = {(skip.resource, skip.check_id) for skip in inline_skips(name) if skip.reason}
    failures = [
        failure
        for failure in checkov_failures()
        if failure.target == name
        and failure.check_id not in skips
        and (failure.resource, failure.check_id) not in inline
    ]
    assert not failures, (
        f"{name}: {len(failures)} checkov failure(s) neither in k8s/checkov-skips.yaml nor "
        "skipped (`checkov.io/skipN: CHECK_ID=reason`) on the object:\n"
        + "\n".join(map(str, failures))
    )


@pytest.mark.parametrize("name", TARGET_NAMES)
def test_inline_checkov_skips_have_reasons_and_are_not_stale(name: str) -> None:
    """Each inline skip annotation gives a reason, and its check really fails on its object."""
    failing = {(f.resource, f.check_id) for f in checkov_failures() if f.target == name}
    problems = [
        f"{skip}: no reason (want CHECK_ID=reason)"
        for skip in inline_skips(name)
        if not skip.reason
    ]
    problems += [
        f"{skip}: stale, {skip.check_id} does not fail on {skip.resource}"
        for skip in inline_skips(name)
        if (skip.resource, skip.check_id) not in failing
    ]
    assert not problems, f"{name}:\n" + "\n".join(problems)


def test_checkov_skips_have_reasons() -> None:
    """Each accepted finding says why it is accepted, and is a checkov check id."""
    skips = accepted_skips()
    problems = [
        f"{check_id}: no reason" for check_id, reason in skips.items() if not reason.strip()
    ]
    problems += [
        f"{check_id}: not a checkov check id"
        for check_id in skips
        if not CHECK_ID.fullmatch(check_id)
    ]
    assert not problems, "k8s/checkov-skips.yaml:\n" + "\n".join(problems)


def test_checkov_skips_are_not_stale() -> None:
    """Each accepted finding still fails somewhere (else the skip hides nothing: drop it)."""
    failing: dict[str, set[str]] = defaultdict(set)
    for failure in checkov_failures():
        failing[failure.check_id].add(failure.target)
    stale = [check_id for check_id in accepted_skips() if check_id not in failing]
    if stale:
        known = known_check_ids()
        details = [
            f"{check_id}: "
            + ("passes on every target" if check_id in known else "not a checkov Kubernetes check")
            for check_id in stale
        ]
        pytest.fail("stale entries in k8s/checkov-skips.yaml:\n" + "\n".join(details))


def test_inline_skip_annotations_are_stripped() -> None:
    """Only `checkov.io/skipN` annotations go, on the object and on its pod template."""
    obj: Object = {
        "kind": "Deployment",
        "metadata": {"name": "x", "annotations": {"checkov.io/skip1": "CKV_K8S_8=why", "a": "b"}},
        "spec": {"template": {"metadata": {"annotations": {"checkov.io/skip2": "CKV_K8S_9"}}}},
    }
    stripped = without_inline_skips(obj)
    assert stripped["metadata"] == {"name": "x", "annotations": {"a": "b"}}
    assert stripped["spec"]["template"]["metadata"] == {}
    assert obj["metadata"]["annotations"]["checkov.io/skip1"] == "CKV_K8S_8=why"

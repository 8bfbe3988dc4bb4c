"""The load-test image carries the Locust files, and k8s/loadtest runs that image.

Offline: no Docker daemon here, so the Dockerfile is read, not built. Checked: Locust and
PyYAML pinned at the lock's versions; every module the locustfile imports (and the SLO file)
copied in and let through the build context's .dockerignore; the master Job and the workers
run this image from its working directory with the path it copied, and nothing mounts or
generates the Locust files any more.
"""

from __future__ import annotations

import ast
import fnmatch
import re
from pathlib import Path, PurePosixPath

import pytest

from tests.k8s.render import Object, containers, of_kind, pod_templates, render

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "loadtests" / "Dockerfile"
LOCK = REPO / "requirements" / "dev.txt"
IMAGE = "todo-loadtest"
PACKAGES = ("loadtests", "observability")


def _instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions (continuation lines joined), as (KEYWORD, arguments)."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    found = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            keyword, _, arguments = line.strip().partition(" ")
            found.append((keyword.upper(), arguments.strip()))
    return found


def _runtime_stage() -> list[tuple[str, str]]:
    """The instructions of the last stage (the image that runs)."""
    instructions = _instructions()
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def _copied() -> tuple[PurePosixPath, list[PurePosixPath]]:
    """The runtime stage's WORKDIR and the build-context paths it copies (not --from)."""
    workdir, sources = PurePosixPath("/"), list[PurePosixPath]()
    for keyword, arguments in _runtime_stage():
        if keyword == "WORKDIR":
            workdir = PurePosixPath(arguments)
        elif keyword == "COPY" and not arguments.startswith("--from"):
            sources.extend(PurePosixPath(part) for part in arguments.split()[:-1])
    return workdir, sources


def _locked(package: str) -> str:
    match = re.search(rf"^{re.escape(package)}==(\S+)$", LOCK.read_text(), re.MULTILINE)
    assert match, f"{package} is not in {LOCK.name}"
    return match.group(1)


def _local_imports(module: str) -> set[str]:
    """The repository's modules (``loadtests.*``, ``observability.*``) ``module`` imports."""
    path = REPO / PurePosixPath(*module.split(".")).with_suffix(".py")
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {
        name
        for name in found
        if name.startswith(tuple(f"{package}." for package in PACKAGES))
        and (REPO / PurePosixPath(*name.split("."))).with_suffix(".py").is_file()
    }


def _imported_closure(root: str) -> set[str]:
    seen: set[str] = set()
    pending = [root]
    while pending:
        module = pending.pop()
        if module not in seen:
            seen.add(module)
            pending.extend(_local_imports(module))
    return seen


def _ignored(path: PurePosixPath) -> bool:
    """Whether the root .dockerignore keeps ``path`` out of the build context (its patterns in
    order, the last match winning, a pattern matching a parent directory too)."""
    ignored = False
    candidates = [str(path), *(str(parent) for parent in path.parents if str(parent) != ".")]
    for line in (REPO / ".dockerignore").read_text().splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negated = pattern.startswith("!")
        pattern = pattern.lstrip("!")
        if any(fnmatch.fnmatchcase(candidate, pattern) for candidate in candidates):
            ignored = not negated
    return ignored


def test_locust_and_pyyaml_are_pinned_at_the_locks_versions() -> None:
    (install,) = [args for keyword, args in _instructions() if keyword == "RUN" and "pip" in args]
    assert "--constraint requirements/dev.txt" in install
    assert f"locust=={_locked('locust')}" in install
    assert f"pyyaml=={_locked('pyyaml')}" in install


def test_the_image_copies_every_module_the_locustfile_imports_and_the_slo_file() -> None:
    _, sources = _copied()
    modules = _imported_closure("loadtests.locustfile")
    assert {"loadtests.judge", "loadtests.gate", "observability.slo"} <= modules
    needed = [PurePosixPath(*module.split(".")).with_suffix(".py") for module in modules]
    needed += [PurePosixPath("observability/slo.yaml"), PurePosixPath("loadtests/__init__.py")]
    for path in needed:
        assert any(path == source or source in path.parents for source in sources), path
        assert not _ignored(path), f"{path} is excluded from the build context by .dockerignore"
    assert _ignored(PurePosixPath("loadtests/results/smoke_stats.csv"))  # reports stay out


def test_the_image_runs_as_a_non_root_uid_and_finds_the_locustfile() -> None:
    runtime = dict(_runtime_stage())
    assert runtime["USER"] == "10001:10001"
    assert "LOCUST_LOCUSTFILE=loadtests/locustfile.py" in runtime["ENV"]
    assert runtime["ENTRYPOINT"] == '["locust"]'
    assert runtime["FROM"].startswith("${PYTHON_IMAGE}")


def _locust_pods() -> list[tuple[Object, Object]]:
    objects = render("loadtest")
    return [
        (pod.owner, container.spec)
        for pod in pod_templates(objects)
        for container in containers(pod)
        if pod.labels.get("app.kubernetes.io/name") == "locust"
    ]


def test_the_locust_pods_run_the_load_test_image_from_its_working_directory() -> None:
    workdir, sources = _copied()
    pods = _locust_pods()
    assert {owner["kind"] for owner, _ in pods} == {"Job", "Deployment"}
    for owner, container in pods:
        where = owner["metadata"]["name"]
        assert container["image"].split(":")[0] == IMAGE, where
        assert container["workingDir"] == str(workdir), where
        script = " ".join(container.get("args") or [])
        (locustfile,) = re.findall(r"locust -f (\S+)", script)
        path = PurePosixPath(locustfile)
        assert any(source in path.parents for source in sources), (where, locustfile)
        mounts = [mount["mountPath"] for mount in container.get("volumeMounts") or []]
        assert not [mount for mount in mounts if mount.startswith(str(workdir))], where


def test_no_configmap_carries_the_locust_files_any_more() -> None:
    objects = render("loadtest")
    for config_map in of_kind(objects, "ConfigMap"):
        keys = (config_map.get("data") or {}).keys()
        assert not [key for key in keys if key.endswith(".py")], config_map["metadata"]["name"]
    assert not (REPO / "k8s" / "loadtest" / "generated").exists()


@pytest.mark.parametrize("target", ["Dockerfile", "loadtests/Dockerfile"])
def test_make_lint_runs_hadolint_on_both_dockerfiles(target: str) -> None:
    makefile = (REPO / "Makefile").read_text()
    assert f"hadolint {target}" in makefile

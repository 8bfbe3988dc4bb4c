"""The three locks stay what `make run`, the image and the tools rely on.

`make run` and the image install requirements/base.txt alone, so every module the server
imports (app/, gunicorn.conf.py, manage.py) must come from a distribution pinned there; the
dev lock must carry each runtime pin at the same version; checkov's pins stay in their own lock.
Imports are read from the source (``if TYPE_CHECKING:`` blocks left out) and traced, through
the installed distributions' file lists (nothing is imported), to the distribution providing
them.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUNTIME_SOURCES = [*sorted((REPO / "app").rglob("*.py")), REPO / "gunicorn.conf.py"]
RUNTIME_SOURCES.append(REPO / "manage.py")
# Imported only when asked for, from an optional extra (pyproject.toml) that says so on failure.
OPTIONAL = {"opentelemetry.exporter.otlp.proto.grpc": "grpc"}


def pins(lock: str) -> dict[str, str]:
    """``requirements/<lock>``: normalized distribution name -> pinned version."""
    text = (REPO / "requirements" / lock).read_text(encoding="utf-8")
    return {
        normalize(name): version
        for name, version in re.findall(r"^([A-Za-z0-9._-]+)==(\S+)", text, re.MULTILINE)
    }


def normalize(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(node: ast.AST) -> Iterator[str]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child):
            yield from (name for other in child.orelse for name in _imports(other))
            continue
        if isinstance(child, ast.Import):
            yield from (alias.name for alias in child.names)
        elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
            # `from opentelemetry import trace`: the name may be a module of its own
            yield from (f"{child.module}.{alias.name}" for alias in child.names)
        yield from _imports(child)


def imported_modules(path: Path) -> set[str]:
    """Absolute imports of third-party modules in ``path`` (stdlib and the project left out)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return {
        name
        for name in _imports(tree)
        if name.split(".")[0] not in sys.stdlib_module_names
        and name.split(".")[0] not in {"app", "__future__"}
    }


@cache
def owners_of_top_level() -> dict[str, list[str]]:
    """Top-level import name -> the installed distributions providing it (normalized)."""
    return {
        top: sorted({normalize(name) for name in names})
        for top, names in importlib.metadata.packages_distributions().items()
    }


@cache
def installed_paths(distribution: str) -> frozenset[str]:
    """The paths a distribution installed, as its RECORD lists them (``a/b/c.py``)."""
    return frozenset(
        str(path) for path in importlib.metadata.distribution(distribution).files or []
    )


def _provides(distribution: str, module: str) -> bool:
    stem = module.replace(".", "/")
    return any(path.startswith((f"{stem}.", f"{stem}/")) for path in installed_paths(distribution))


def distribution_of_module(name: str) -> str | None:
    """The installed distribution providing module ``name`` (or the closest parent of it that
    one distribution provides: ``from x import y`` names a module or an attribute), from the
    distributions' file lists: nothing is imported. ``None`` if none provides it."""
    candidates = owners_of_top_level().get(name.split(".", maxsplit=1)[0], [])
    if len(candidates) <= 1:
        return candidates[0] if candidates else None
    while "." in name:  # a namespace package (opentelemetry): the longest path one dist has
        providers = [dist for dist in candidates if _provides(dist, name)]
        if len(providers) == 1:
            return providers[0]
        name = name.rpartition(".")[0]
    return None


def test_every_runtime_import_comes_from_the_runtime_lock() -> None:
    runtime = pins("base.txt")
    problems = []
    for path in RUNTIME_SOURCES:
        for module in sorted(imported_modules(path)):
            if any(module == opt or module.startswith(opt + ".") for opt in OPTIONAL):
                continue
            owner = distribution_of_module(module)
            if owner is None:
                problems.append(f"{path.relative_to(REPO)}: {module}: not installed here")
            elif owner not in runtime:
                problems.append(
                    f"{path.relative_to(REPO)}: {module} comes from {owner}, "
                    "which requirements/base.txt does not pin (add it to [project] dependencies)"
                )
    assert not problems, "\n".join(problems)


def test_the_dev_lock_pins_every_runtime_package_at_the_same_version() -> None:
    runtime, dev = pins("base.txt"), pins("dev.txt")

    assert {name: dev.get(name) for name in runtime} == runtime


def test_checkov_and_its_pins_stay_out_of_the_project_locks() -> None:
    checkov_only = set(pins("checkov.txt")) - set(pins("dev.txt"))

    assert "checkov" in checkov_only
    assert {"checkov", "networkx", "boto3", "cachetools"} <= checkov_only

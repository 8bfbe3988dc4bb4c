"""The project's container image, built for the tests: the local debootstrap base
(images/python-base.sh, cached by tag), then the unchanged Dockerfile on top of it.

Without a Docker engine the tests skip, saying how to get one; with REQUIRE_SERVICES=1 (CI)
they fail instead (tests/support/backing_services.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from k8s.podrun.docker import Docker
from tests.support.backing_services import require

REPO = Path(__file__).resolve().parents[2]
BASE_SCRIPT = REPO / "images" / "python-base.sh"
IMAGE_TAG = "todo-api:podrun"
BUILD_TIMEOUT_S = 900


@dataclass(frozen=True)
class BuiltImage:
    """The image built from the Dockerfile, its base, and how long each step took."""

    docker: Docker
    tag: str
    base: str
    base_s: float
    build_s: float


def docker() -> Docker:
    """The Docker engine; skips (or fails with REQUIRE_SERVICES=1) when none answers."""
    found = Docker.find()
    require("docker", found is not None)
    assert found is not None
    return found


def _run(command: list[str], *, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False, env=env
    )
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}"
    return result.stdout


def build() -> BuiltImage:
    """Build (or reuse) the base, then the project image from the Dockerfile."""
    engine = docker()
    require("debootstrap", shutil.which("debootstrap") is not None or _base_cached(engine))
    started = time.monotonic()
    base = _run(["bash", str(BASE_SCRIPT)], env={**os.environ, "DOCKER": engine.binary}).strip()
    base_s = time.monotonic() - started
    started = time.monotonic()
    # The legacy builder: BuildKit would fetch the `# syntax=` frontend from a registry.
    _run(
        [engine.binary, "build", "--quiet", "--network", "host", "--build-arg",
         f"PYTHON_IMAGE={base}", "--tag", IMAGE_TAG, str(REPO)],
        env={**os.environ, "DOCKER_BUILDKIT": "0"},
    )  # fmt: skip
    return BuiltImage(engine, IMAGE_TAG, base, base_s, time.monotonic() - started)


def _base_cached(engine: Docker) -> bool:
    listed = engine.call("image", "ls", "--format", "{{.Repository}}", "todo-python-base")
    return bool(listed.strip())

"""The project's container image, built for the tests by images/build.sh: the local
debootstrap base (images/python-base.sh, cached by tag), then the unchanged Dockerfile on it.

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
BUILD_SCRIPT = REPO / "images" / "build.sh"
IMAGE_TAG = "todo-api:podrun"
BUILD_TIMEOUT_S = 900


@dataclass(frozen=True)
class BuiltImage:
    """The image built from the Dockerfile (by images/build.sh), and how long that took."""

    docker: Docker
    tag: str
    seconds: float


def docker() -> Docker:
    """The Docker engine; skips (or fails with REQUIRE_SERVICES=1) when none answers."""
    found = Docker.find()
    require("docker", found is not None)
    assert found is not None
    return found


def build() -> BuiltImage:
    """Build (or reuse: the base by tag, the layers by Docker's cache) the project image."""
    engine = docker()
    require("debootstrap", shutil.which("debootstrap") is not None or _base_cached(engine))
    started = time.monotonic()
    result = subprocess.run(
        [shutil.which("bash") or "/bin/bash", str(BUILD_SCRIPT), IMAGE_TAG],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        check=False,
        env={**os.environ, "DOCKER": engine.binary},
    )
    assert result.returncode == 0, f"images/build.sh failed:\n{result.stdout}{result.stderr}"
    return BuiltImage(engine, result.stdout.strip(), time.monotonic() - started)


def _base_cached(engine: Docker) -> bool:
    listed = engine.call("image", "ls", "--format", "{{.Repository}}", "todo-python-base")
    return bool(listed.strip())

"""The few Docker CLI calls the pod runner makes (a thin, typed wrapper; no logic)."""

from __future__ import annotations

import shutil
import subprocess  # nosec B404  # runs the docker CLI with argument lists
from dataclasses import dataclass


class DockerError(Exception):
    """A docker command failed."""


@dataclass(frozen=True)
class Docker:
    """The docker CLI (``binary``) against the engine it is configured for."""

    binary: str = "docker"

    @classmethod
    def find(cls) -> Docker | None:
        """The docker CLI on PATH whose engine answers, else None."""
        binary = shutil.which("docker")
        if binary is None:
            return None
        docker = cls(binary)
        try:
            docker.call("version", "--format", "{{.Server.Version}}", timeout=10)
        except (DockerError, subprocess.TimeoutExpired):
            return None
        return docker

    def call(self, *args: str, timeout: float = 60) -> str:
        """Run ``docker ARGS``; its stdout, or DockerError with its output."""
        result = subprocess.run(  # noqa: S603  # nosec B603  # the docker CLI, argument list
            [self.binary, *args], capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            raise DockerError(f"docker {' '.join(args[:3])}...: {result.stderr or result.stdout}")
        return result.stdout

    def state(self, name: str) -> tuple[str, int]:
        """(status, exit code) of container ``name``."""
        status, code = self.call(
            "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", name
        ).split()
        return status, int(code)

    def logs(self, name: str, tail: int = 60) -> str:
        """The last lines of the container's stdout and stderr."""
        result = subprocess.run(  # noqa: S603  # nosec B603  # the docker CLI, argument list
            [self.binary, "logs", "--tail", str(tail), name],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        return result.stdout + result.stderr

    def remove(self, name: str) -> None:
        """Remove the container, running or not; no error when it does not exist."""
        subprocess.run(  # noqa: S603  # nosec B603  # the docker CLI, argument list
            [self.binary, "rm", "--force", name], capture_output=True, timeout=60, check=False
        )

"""Run services of docker-compose.yml from their own definitions with `docker run`, where no
Compose plugin and no registry exist (the app's image is the only one buildable here).

Interpolates the file as Compose does (``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``,
``${VAR:?error}``, ``$$``) against a given environment (the test's .env), then turns one
service into a `docker run`: image, command, environment, read_only, tmpfs, mem_limit,
stop_grace_period, healthcheck, named volumes. The host network stands in for the Compose
network: the other services' names (postgres, redis, otel-collector) map to 127.0.0.1, and
published ports are the container's own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
_VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_]\w*)")
_DURATION = re.compile(r"(\d+)(ms|s|m|h)")


class InterpolationError(Exception):
    """A ``${VAR:?message}`` variable is missing, as `docker compose` would report it."""


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """``value`` with Compose's variable syntax replaced from ``env``."""

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(4)
        operator, argument = match.group(2), match.group(3) or ""
        current = env.get(name)
        empty = current is None or (
            operator is not None and operator.startswith(":") and not current
        )
        if operator and operator.endswith("-"):
            return argument if empty else str(current)
        if operator and operator.endswith("?"):
            if empty:
                raise InterpolationError(f"{name}: {argument}")
            return str(current)
        return current or ""

    return _VARIABLE.sub(substitute, value)


def _walk(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [_walk(item, env) for item in node]
    if isinstance(node, dict):
        return {key: _walk(value, env) for key, value in node.items()}
    return node


def service(name: str, env: Mapping[str, str]) -> dict[str, Any]:
    """The service ``name`` of docker-compose.yml, interpolated with ``env``."""
    document = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    return dict(_walk(document["services"][name], env))


def seconds(duration: str) -> float:
    """A Compose duration (``10s``, ``1m30s``) in seconds."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(int(number) * units[unit] for number, unit in _DURATION.findall(duration))


def docker_run_args(
    spec: Mapping[str, Any], *, name: str, hosts: list[str], volume_prefix: str
) -> list[str]:
    """`docker run` arguments (after ``run``) for the service ``spec``."""
    args = ["--name", name, "--network", "host"]
    args += [arg for host in hosts for arg in ("--add-host", f"{host}:127.0.0.1")]
    if spec.get("read_only"):
        args.append("--read-only")
    args += [arg for mount in spec.get("tmpfs") or [] for arg in ("--tmpfs", mount)]
    for volume in spec.get("volumes") or []:
        source, target = str(volume).split(":", 1)
        args += ["--volume", f"{volume_prefix}{source}:{target}"]
    if "mem_limit" in spec:
        args += ["--memory", str(spec["mem_limit"])]
    if "stop_grace_period" in spec:
        args += ["--stop-timeout", str(int(seconds(spec["stop_grace_period"])))]
    for key, value in (spec.get("environment") or {}).items():
        args += ["--env", f"{key}={value}"]
    health = spec.get("healthcheck") or {}
    if health.get("test"):
        # --health-cmd is always run by the shell: a CMD list becomes its quoted words.
        kind, *parts = health["test"]
        command = " ".join(parts) if kind == "CMD-SHELL" else " ".join(map(_quote, parts))
        args += ["--health-cmd", command]
        for key, flag in (("interval", "--health-interval"), ("timeout", "--health-timeout"),
                          ("start_period", "--health-start-period")):  # fmt: skip
            if key in health:
                args += [flag, f"{seconds(health[key]):g}s"]
        if "retries" in health:
            args += ["--health-retries", str(health["retries"])]
    args.append(str(spec["image"]))
    args += [str(part) for part in spec.get("command") or []]
    return args


def _quote(part: str) -> str:
    """A CMD argument for --health-cmd, which Docker runs through /bin/sh -c."""
    return "'" + part.replace("'", "'\"'\"'") + "'"

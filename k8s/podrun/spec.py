"""A container of a rendered pod spec as a `docker run` command line (no Docker calls here).

What the kubelet would do, translated: command/args, env and envFrom (ConfigMaps from the
render, fieldRef values synthesised, $(VAR) references expanded), Secret volumes as read-only
files, every emptyDir as a tmpfs, other volumes as a directory owned by fsGroup, the security
context (user, group, fsGroup, read-only root, dropped capabilities, no new privileges) and
the resource limits. The node is the host network: Service names become --add-host entries.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

Object = dict[str, Any]

_QUANTITY = re.compile(r"^([0-9.]+)([A-Za-z]*)$")
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
_DECIMAL = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
_REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


class SpecError(Exception):
    """The pod spec asks for something the render does not provide (a kubelet would refuse)."""


def quantity_bytes(value: str | int) -> int:
    """A Kubernetes memory quantity (``64Mi``, ``1G``, ``512``) in bytes."""
    match = _QUANTITY.match(str(value))
    if not match or match.group(2) not in {**_BINARY, **_DECIMAL}:
        raise SpecError(f"not a memory quantity: {value!r}")
    number, unit = match.groups()
    return int(float(number) * {**_BINARY, **_DECIMAL}[unit])


def quantity_cpus(value: str | int | float) -> float:
    """A Kubernetes CPU quantity (``250m``, ``1``) in cores."""
    text = str(value)
    return int(text[:-1]) / 1000 if text.endswith("m") else float(text)


def expand(value: str, env: Mapping[str, str]) -> str:
    """Kubernetes' $(VAR) expansion: defined names are replaced, unknown ones kept, $$ is $."""

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return _REFERENCE.sub(substitute, value)


@dataclass(frozen=True)
class Pod:
    """The identity a kubelet gives a pod: what fieldRef values read."""

    name: str
    namespace: str
    node: str
    ip: str = "127.0.0.1"

    def field(self, path: str) -> str:
        """The value of ``fieldRef.fieldPath`` for this pod."""
        values = {
            "metadata.name": self.name,
            "metadata.namespace": self.namespace,
            "spec.nodeName": self.node,
            "status.podIP": self.ip,
            "status.hostIP": self.ip,
        }
        if path not in values:
            raise SpecError(f"fieldRef {path} is not synthesised by the pod runner")
        return values[path]


@dataclass(frozen=True)
class Node:
    """What the machine provides: Secrets (name -> key -> value), and a scratch directory."""

    secrets: Mapping[str, Mapping[str, str]]
    workdir: Path
    service_address: str = "127.0.0.1"


@dataclass(frozen=True)
class Mount:
    """One volumeMount as Docker sees it."""

    name: str
    path: str
    kind: str  # "emptyDir", "secret", "directory"
    args: tuple[str, ...]


@dataclass
class DockerRun:
    """The `docker run` command of one container, and what it was built from."""

    name: str
    image: str
    args: list[str]
    env: dict[str, str]
    mounts: list[Mount] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)

    def command(self, docker: str = "docker", *, detach: bool = True) -> list[str]:
        """The full command line."""
        return [docker, "run", *(["--detach"] if detach else []), *self.args]


def config_maps(objects: Sequence[Object]) -> dict[tuple[str | None, str], dict[str, str]]:
    """Rendered ConfigMaps by (namespace, name)."""
    return {
        (obj["metadata"].get("namespace"), obj["metadata"]["name"]): {
            key: str(value) for key, value in (obj.get("data") or {}).items()
        }
        for obj in objects
        if obj.get("kind") == "ConfigMap"
    }


def rendered_secrets(objects: Sequence[Object]) -> dict[str, dict[str, str]]:
    """Rendered Secrets (the dev overlay generates one) by name, values decoded."""
    secrets: dict[str, dict[str, str]] = {}
    for obj in objects:
        if obj.get("kind") != "Secret":
            continue
        data = {
            key: base64.b64decode(value).decode() for key, value in (obj.get("data") or {}).items()
        }
        data.update({key: str(value) for key, value in (obj.get("stringData") or {}).items()})
        secrets[obj["metadata"]["name"]] = data
    return secrets


def container_env(
    container: Object, *, namespace: str | None, objects: Sequence[Object], pod: Pod, node: Node
) -> dict[str, str]:
    """The environment the kubelet would give ``container``: envFrom first, then env in order,
    each value expanded against the variables defined before it."""
    maps = config_maps(objects)
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        if "configMapRef" in source:
            ref = source["configMapRef"]
            data = maps.get((namespace, ref["name"]))
            if data is None:
                raise SpecError(f"envFrom: ConfigMap {ref['name']} is not in the render")
        else:
            ref = source["secretRef"]
            data = dict(_secret(node, ref["name"]))
        env.update({f"{prefix}{key}": value for key, value in data.items()})
    for variable in container.get("env") or []:
        name = variable["name"]
        if "value" in variable:
            env[name] = expand(str(variable["value"]), env)
            continue
        source = variable.get("valueFrom") or {}
        if "fieldRef" in source:
            env[name] = pod.field(source["fieldRef"]["fieldPath"])
        elif "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            env[name] = maps.get((namespace, ref["name"]), {})[ref["key"]]
        elif "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            env[name] = _secret(node, ref["name"])[ref["key"]]
        else:
            raise SpecError(f"env {name}: valueFrom {sorted(source)} is not supported")
    return env


def _secret(node: Node, name: str) -> Mapping[str, str]:
    if name not in node.secrets:
        raise SpecError(f"Secret {name} does not exist on this node (the runner was given none)")
    return node.secrets[name]


def _mount(
    volume: Object,
    mount: Object,
    *,
    node: Node,
    run_name: str,
    fs_group: int | None,
    user: int | None,
) -> Mount:
    path = mount["mountPath"]
    read_only = bool(mount.get("readOnly"))
    name = volume["name"]
    if "emptyDir" in volume:
        # An emptyDir is a 0777 directory. Some kernels (gVisor's, on these machines) ignore
        # tmpfs' mode= and keep root's 0755: owning it by the container's user and fsGroup gives
        # that user the same write access.
        options = ["rw", "mode=1777"]
        options += [f"uid={user}"] if user is not None else []
        options += [f"gid={fs_group}"] if fs_group is not None else []
        size = (volume["emptyDir"] or {}).get("sizeLimit")
        if size:
            options.append(f"size={quantity_bytes(size)}")
        return Mount(name, path, "emptyDir", ("--tmpfs", f"{path}:{','.join(options)}"))
    if "secret" in volume:
        source = volume["secret"]
        data = _secret(node, source["secretName"])
        directory = node.workdir / run_name / "secrets" / name
        directory.mkdir(parents=True, exist_ok=True)
        items = source.get("items") or [{"key": key, "path": key} for key in data]
        mode = int(source.get("defaultMode", 0o644))
        for item in items:
            if item["key"] not in data:
                raise SpecError(f"volume {name}: key {item['key']} is not in Secret")
            target = directory / item["path"]
            target.write_text(data[item["key"]], encoding="utf-8")
            _own(target, fs_group, int(item.get("mode", mode)))
        _own(directory, fs_group, 0o755)
        return Mount(name, path, "secret", ("--mount", _bind(directory, path, read_only=True)))
    # persistentVolumeClaim and the like: a fresh directory owned by fsGroup stands in.
    directory = node.workdir / run_name / "volumes" / name
    directory.mkdir(parents=True, exist_ok=True)
    _own(directory, fs_group, 0o2775)
    return Mount(name, path, "directory", ("--mount", _bind(directory, path, read_only=read_only)))


def _bind(source: Path, target: str, *, read_only: bool) -> str:
    spec = f"type=bind,source={source},target={target}"
    return f"{spec},readonly" if read_only else spec


def _own(path: Path, group: int | None, mode: int) -> None:
    """Give ``path`` the kubelet's ownership: root, group fsGroup, ``mode``."""
    if group is not None and os.geteuid() == 0:
        os.chown(path, 0, group)
    elif mode & 0o040:
        mode |= 0o004  # not root: the file stays ours, so the container's user reads as other
    path.chmod(mode)


def _security(pod_spec: Object, container: Object) -> list[str]:
    pod_context = pod_spec.get("securityContext") or {}
    context = {**pod_context, **(container.get("securityContext") or {})}
    args: list[str] = []
    user = context.get("runAsUser")
    group = context.get("runAsGroup")
    if user is not None:
        args += ["--user", f"{user}:{group}" if group is not None else str(user)]
    for extra in [pod_context.get("fsGroup"), *(pod_context.get("supplementalGroups") or [])]:
        if extra is not None:
            args += ["--group-add", str(extra)]
    if context.get("readOnlyRootFilesystem"):
        args.append("--read-only")
    capabilities = context.get("capabilities") or {}
    args += [arg for cap in capabilities.get("drop") or [] for arg in ("--cap-drop", cap)]
    args += [arg for cap in capabilities.get("add") or [] for arg in ("--cap-add", cap)]
    if context.get("allowPrivilegeEscalation") is False:
        args += ["--security-opt", "no-new-privileges"]
    if context.get("privileged"):
        args.append("--privileged")
    return args


def _resources(container: Object) -> list[str]:
    limits = (container.get("resources") or {}).get("limits") or {}
    args: list[str] = []
    if "memory" in limits:
        args += ["--memory", str(quantity_bytes(limits["memory"]))]
    if "cpu" in limits:
        args += ["--cpus", f"{quantity_cpus(limits['cpu']):g}"]
    return args


def service_hosts(values: Sequence[str]) -> list[str]:
    """Host names (not IPs, not localhost) of the URLs among ``values``: the Services the
    container will connect to."""
    hosts: set[str] = set()
    for value in values:
        if "://" not in value:
            continue
        try:
            host = urlsplit(value).hostname
        except ValueError:
            continue
        if host and host != "localhost" and not re.fullmatch(r"[0-9.]+|\[?[0-9a-f:]+\]?", host):
            hosts.add(host)
    return sorted(hosts)


def docker_run(
    *,
    objects: Sequence[Object],
    owner: Object,
    container: Object,
    pod: Pod,
    node: Node,
    image: str | None = None,
    run_name: str,
) -> DockerRun:
    """The `docker run` arguments for ``container`` of ``owner``'s pod template."""
    template = owner["spec"]["template"]
    pod_spec = template["spec"]
    namespace = owner["metadata"].get("namespace")
    env = container_env(container, namespace=namespace, objects=objects, pod=pod, node=node)
    volumes = {volume["name"]: volume for volume in pod_spec.get("volumes") or []}
    pod_context = pod_spec.get("securityContext") or {}
    fs_group = pod_context.get("fsGroup")
    user = {**pod_context, **(container.get("securityContext") or {})}.get("runAsUser")
    mounts = []
    for mount in container.get("volumeMounts") or []:
        if mount["name"] not in volumes:
            raise SpecError(f"volumeMount {mount['name']} names no volume of the pod")
        volume = volumes[mount["name"]]
        mounts.append(
            _mount(volume, mount, node=node, run_name=run_name, fs_group=fs_group, user=user)
        )
    secret_values = [
        value
        for mount in mounts
        if mount.kind == "secret"
        for value in _secret(node, volumes[mount.name]["secret"]["secretName"]).values()
    ]
    hosts = service_hosts([*env.values(), *secret_values])
    args = ["--name", run_name, "--network", "host"]
    args += [arg for host in hosts for arg in ("--add-host", f"{host}:{node.service_address}")]
    args += _security(pod_spec, container)
    args += _resources(container)
    args += [arg for mount in mounts for arg in mount.args]
    if container.get("workingDir"):
        args += ["--workdir", container["workingDir"]]
    args += [arg for key, value in env.items() for arg in ("--env", f"{key}={value}")]
    command = [expand(part, env) for part in container.get("command") or []]
    container_args = [expand(part, env) for part in container.get("args") or []]
    if command:
        args += ["--entrypoint", command[0]]
    args.append(image or container["image"])
    args += [*command[1:], *container_args]
    return DockerRun(run_name, image or container["image"], args, env, mounts, hosts)

"""Look inside a built image: its layers' files (`docker save`) and its build history, for
what must not be there (compilers, pip caches, secrets)."""

from __future__ import annotations

import json
import re
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeGuard

from k8s.podrun.docker import Docker

REPO = Path(__file__).resolve().parents[2]

# Private keys, cloud keys, tokens: what a leaked secret looks like inside a file.
SECRET_CONTENT = re.compile(
    rb"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----"
    rb"|AKIA[0-9A-Z]{16}"
    rb"|ghp_[A-Za-z0-9]{36}"
    rb"|xox[baprs]-[A-Za-z0-9-]{10,}"
)
# Files that hold secrets by their name.
SECRET_NAMES = re.compile(
    r"(^|/)(\.env(\.[^/]*)?|secrets?\.[^/]*\.env|id_(rsa|ed25519|ecdsa)|\.netrc|\.pypirc"
    r"|pip\.conf|\.git-credentials|[^/]*\.(key|p12|pfx))$"
)
MAX_SCANNED_BYTES = 4 * 2**20


@dataclass(frozen=True)
class LayerFile:
    """A regular file of one image layer."""

    layer: str
    path: str
    size: int


def is_text(content: bytes | None) -> TypeGuard[bytes]:
    """Scanned content that is text (binaries such as libgnutls carry PEM headers as parser
    constants; a leaked key would sit in a text file)."""
    return content is not None and b"\0" not in content[:8192]


def history(docker: Docker, image: str) -> list[str]:
    """Every layer's full ``created by`` line (`docker history --no-trunc`)."""
    out = docker.call("history", "--no-trunc", "--format", "{{json .CreatedBy}}", image)
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def layer_files(docker: Docker, image: str) -> Iterator[tuple[LayerFile, bytes | None]]:
    """Each regular file of each layer, with its content when small enough to scan."""
    with tempfile.TemporaryDirectory(prefix="image-scan-") as tmp:
        archive = Path(tmp) / "image.tar"
        subprocess.run(
            [docker.binary, "save", "--output", str(archive), image], check=True, timeout=300
        )
        with tarfile.open(archive) as outer:
            manifest = json.load(outer.extractfile("manifest.json"))  # type: ignore[arg-type]
            for layer in manifest[0]["Layers"]:
                with tarfile.open(fileobj=outer.extractfile(layer)) as inner:
                    for member in inner:
                        if not member.isreg():
                            continue
                        small = member.size <= MAX_SCANNED_BYTES
                        content = inner.extractfile(member).read() if small else None  # type: ignore[union-attr]
                        yield LayerFile(layer, member.name, member.size), content


def size_and_layers(docker: Docker, image: str) -> tuple[int, int]:
    """The image's size in bytes and its number of filesystem layers."""
    out = docker.call("image", "inspect", "--format", "{{.Size}} {{len .RootFS.Layers}}", image)
    size, layers = out.split()
    return int(size), int(layers)

"""The image built from the unchanged Dockerfile (on the local debootstrap base): it runs as
uid 10001, its runtime stage has no compiler and no pip cache, and no secret sits in any
layer or in the build history (issue 18). Its size and layer count are printed for README."""

from __future__ import annotations

import re

from tests.support import image_scan
from tests.support.images import BuiltImage

# The one value that looks like a secret in the history: collectstatic's throwaway key
# (Dockerfile: "no secret is baked into the image").
BUILD_ONLY_KEY = "DJANGO_SECRET_KEY=collectstatic-build-only"
COMPILERS = ("gcc", "cc", "c++", "g++", "clang", "make", "ld", "as")


def _sh(image: BuiltImage, script: str) -> str:
    return image.docker.call("run", "--rm", "--network", "none", "--entrypoint", "sh",
                             image.tag, "-c", script)  # fmt: skip


def test_the_image_runs_as_uid_10001(project_image: BuiltImage) -> None:
    config_user = project_image.docker.call(
        "image", "inspect", "--format", "{{.Config.User}}", project_image.tag
    )
    assert config_user.strip() == "10001:10001"
    assert _sh(project_image, "id -u; id -g").split() == ["10001", "10001"]


def test_the_runtime_stage_has_no_compiler_and_no_pip_cache(project_image: BuiltImage) -> None:
    found = _sh(project_image, f"for c in {' '.join(COMPILERS)}; do command -v $c; done; true")
    assert found.strip() == ""
    caches = _sh(
        project_image,
        # Debian's venv seeds new virtualenvs from /usr/share/python-wheels (the base's): those
        # wheels are the base contract, not a cache.
        "find / -xdev \\( -path '*/.cache/pip' -o -path /build -o -name '*.whl' \\) "
        "-not -path '/usr/share/python-wheels/*' -print 2>/dev/null; true",
    )
    assert caches.strip() == "", caches


def test_no_secret_in_the_build_history(project_image: BuiltImage) -> None:
    lines = image_scan.history(project_image.docker, project_image.tag)
    assert any(BUILD_ONLY_KEY in line for line in lines)  # the scan sees the RUN lines
    suspicious = [
        line
        for line in lines
        if re.search(r"(SECRET|PASSWORD|TOKEN|DSN|_KEY)[A-Z_]*=", line.replace(BUILD_ONLY_KEY, ""))
        or ("://" in line and "@" in line)
    ]
    assert suspicious == []


def test_no_secret_file_in_any_layer(project_image: BuiltImage) -> None:
    dev_values = [
        line.split("=", 1)[1].encode()
        for line in (image_scan.REPO / "k8s/overlays/dev/secrets.dev.env").read_text().splitlines()
        if "=" in line and not line.startswith("#") and line.split("=", 1)[1]
    ]
    named, leaked, scanned = [], [], 0
    for file, content in image_scan.layer_files(project_image.docker, project_image.tag):
        scanned += 1
        if image_scan.SECRET_NAMES.search(file.path):
            named.append(file.path)
        if image_scan.is_text(content) and (
            image_scan.SECRET_CONTENT.search(content) or any(v in content for v in dev_values)
        ):
            leaked.append(file.path)
    assert scanned > 1000  # the scan read the layers
    assert named == []
    assert leaked == []


def test_size_and_layers_are_reported(project_image: BuiltImage) -> None:
    size, layers = image_scan.size_and_layers(project_image.docker, project_image.tag)
    print(f"\nimage {project_image.tag}: {size / 1e6:.0f} MB, {layers} layers")  # noqa: T201
    assert layers <= 12
    assert size < 500e6


def test_the_layer_scan_recognises_secrets() -> None:
    """The patterns above catch what they are for (else the scans could not fail)."""
    assert image_scan.SECRET_NAMES.search("./app/.env")
    assert image_scan.SECRET_NAMES.search("./etc/pip.conf")
    assert image_scan.SECRET_NAMES.search("./root/.ssh/id_ed25519")
    assert not image_scan.SECRET_NAMES.search("./app/app/settings.py")
    # Samples made at run time (tests/security/test_secrets.py scans the committed files).
    pem = b"-----BEGIN OPENSSH " + b"PRIVATE KEY-----"
    assert image_scan.SECRET_CONTENT.search(pem + b"\nb3Bl")
    assert image_scan.SECRET_CONTENT.search(b"aws_access_key_id = AKIA" + b"Q" * 16)
    assert not image_scan.is_text(b"\x7fELF\0\0" + pem)

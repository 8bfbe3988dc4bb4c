"""Image tags in docker-compose.yml and k8s/ agree with each other and with the package indexes
this repository can reach (no container registry is reachable here).

What can be checked offline: the Locust image is built from the Locust release the lock pins
(PyPI) and adds the locked PyYAML; Grafana runs the minor release the dashboards' SDK is built
for (PyPI's grafana-foundation-sdk version); the app image's tag is the project's version; an
image used by both compose and Kubernetes has one tag. Upstream server images (Prometheus,
Alertmanager, PostgreSQL, Redis, Tempo, Loki, Alloy, the collector) cannot be checked against a
registry here; the README's "Versions: tested here vs deployed" table says which version the
tests run instead (Debian's packages).
"""

from __future__ import annotations

import re
import tomllib
from collections import defaultdict
from functools import cache
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
IMAGE_LINE = re.compile(r"^\s*(?:-\s+)?image:\s*[\"']?([^\s\"'#]+)", re.MULTILINE)
FROM_LINE = re.compile(r"^\s*FROM\s+(\S+)", re.MULTILINE)
# compose builds the app from the working tree as todo-api:local; Kubernetes runs a release.
LOCAL_TAG = ("todo-api", "local")


def split(image: str) -> tuple[str, str]:
    """``(name, tag)`` of an image reference (tag ``""`` when there is none)."""
    name, _, tag = image.rpartition(":")
    if not name or "/" in tag:  # no tag, or a registry port
        return image, ""
    return name, tag


def dev_pin(package: str) -> str:
    """The version requirements/dev.txt pins for ``package``."""
    text = (REPO / "requirements" / "dev.txt").read_text(encoding="utf-8")
    match = re.search(rf"^{re.escape(package)}==(\S+)", text, re.MULTILINE)
    assert match, f"{package} is not pinned in requirements/dev.txt"
    return match.group(1)


@cache
def compose() -> dict[str, object]:
    """docker-compose.yml, parsed."""
    loaded = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def images() -> dict[str, list[tuple[str, str]]]:
    """Image name -> [(tag, file)] over docker-compose.yml and every YAML file under k8s/."""
    found: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for path in [COMPOSE_FILE, *sorted((REPO / "k8s").rglob("*.yaml"))]:
        for reference in IMAGE_LINE.findall(path.read_text(encoding="utf-8")):
            name, tag = split(reference)
            found[name].append((tag, str(path.relative_to(REPO))))
    return found


def locust_build() -> str:
    """The inline Dockerfile compose builds the Locust image from."""
    anchor = compose()["x-locust"]
    assert isinstance(anchor, dict)
    return str(anchor["build"]["dockerfile_inline"])


def test_an_image_has_one_tag_everywhere() -> None:
    mixed = {
        name: sorted(set(uses))
        for name, uses in images().items()
        if len({tag for tag, _ in uses if (name, tag) != LOCAL_TAG}) > 1
    }

    assert not mixed, f"images with more than one tag: {mixed}"


def test_the_locust_image_is_built_from_the_locked_locust_release() -> None:
    locust = dev_pin("locust")
    (base,) = FROM_LINE.findall(locust_build())

    assert split(base) == ("locustio/locust", locust)
    assert {tag for tag, _ in images()["todo-locust"]} == {locust}


def test_the_locust_image_adds_the_locked_pyyaml() -> None:
    assert f"pyyaml=={dev_pin('pyyaml')}" in locust_build()


def test_grafana_runs_the_minor_release_the_dashboards_are_built_for() -> None:
    sdk = dev_pin("grafana-foundation-sdk")  # "<build>!<grafana version>"
    built_for = sdk.partition("!")[2].split(".")[:2]
    (tag,) = {tag for tag, _ in images()["grafana/grafana"]}

    assert tag.split(".")[:2] == built_for, f"grafana/grafana:{tag} vs SDK {sdk}"


def test_the_app_image_tag_is_the_project_version() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    tags = {tag for tag, _ in images()["todo-api"]} - {LOCAL_TAG[1]}

    assert tags == {pyproject["project"]["version"]}

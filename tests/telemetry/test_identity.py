"""Service identity from the standard variables."""

from collections.abc import Iterator

import pytest

from app import __version__
from app.telemetry.identity import ServiceIdentity, resource_attributes, service_identity

pytestmark = pytest.mark.database_free


@pytest.fixture(autouse=True)
def _uncached(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "DEPLOYMENT_ENVIRONMENT"):
        monkeypatch.delenv(name, raising=False)
    service_identity.cache_clear()
    yield
    service_identity.cache_clear()


def test_defaults() -> None:
    assert service_identity() == ServiceIdentity("todo-api", __version__, "development")


def test_standard_variables_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "todos")
    monkeypatch.setenv(
        "OTEL_RESOURCE_ATTRIBUTES", "service.version=9.9, deployment.environment=staging"
    )

    assert service_identity() == ServiceIdentity("todos", "9.9", "staging")


def test_deployment_environment_overrides_resource_attributes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=staging")
    monkeypatch.setenv("DEPLOYMENT_ENVIRONMENT", "production")

    assert service_identity().environment == "production"


def test_resource_attributes_parse_pairs_and_ignore_junk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "a=1,b = two,junk,c=x=y")

    assert resource_attributes() == {"a": "1", "b": "two", "c": "x=y"}


def test_resource_attributes_are_percent_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    """The spec's encoding: ``,`` ``=`` and spaces inside a value arrive percent-encoded."""
    monkeypatch.setenv(
        "OTEL_RESOURCE_ATTRIBUTES", "team=web%20platform,deployment.environment=a%2Cb"
    )

    assert resource_attributes()["team"] == "web platform"
    assert service_identity().environment == "a,b"

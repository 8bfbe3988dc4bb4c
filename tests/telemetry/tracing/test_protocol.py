"""The OTLP gRPC exporter is an optional extra: nothing imports it unless ``grpc`` is asked for,
and asking for it without the extra stops start-up with what to install."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from app.envconfig import Env, EnvError
from app.telemetry.tracing import protocol
from app.telemetry.tracing import provider as tracing

pytestmark = pytest.mark.database_free

REPO = Path(__file__).resolve().parents[3]
ENDPOINT = "http://127.0.0.1:9/"  # never contacted: exporters connect on the first export


def locked(lock: str) -> set[str]:
    """The package names pinned in ``requirements/<lock>``."""
    text = (REPO / "requirements" / lock).read_text(encoding="utf-8")
    return {match.lower() for match in re.findall(r"^([A-Za-z0-9._-]+)==", text, re.MULTILINE)}


def python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter from the repository root, with ``env`` added."""
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPO,
        env={**os.environ, **env},
    )


# Makes the gRPC exporter unimportable in a subprocess, as on an install without the extra.
WITHOUT_GRPC_EXTRA = f"import sys; sys.modules[{protocol.GRPC_EXPORTER_MODULE!r}] = None\n"


def test_the_runtime_lock_leaves_out_the_grpc_exporter_and_grpcio() -> None:
    runtime, dev = locked("base.txt"), locked("dev.txt")

    assert {protocol.GRPC_EXPORTER_PACKAGE, "grpcio"}.isdisjoint(runtime)
    assert {protocol.GRPC_EXPORTER_PACKAGE, "grpcio"} <= dev  # the tests below need it


def test_http_tracing_imports_neither_grpc_nor_its_exporter() -> None:
    code = (
        "import sys\n"
        "from app.telemetry.tracing import provider\n"
        "provider.configure_tracing()\n"
        "exporter = provider.make_exporter()\n"
        "print(type(exporter).__name__)\n"
        "print(sorted(m for m in sys.modules if m == 'grpc' or m.startswith(('grpc.', "
        f"{protocol.GRPC_EXPORTER_MODULE!r}))))\n"
    )
    result = python(code, OTEL_EXPORTER_OTLP_ENDPOINT=ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL="")

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["DirectlyEncodedHttpExporter", "[]"]


def test_grpc_without_the_extra_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", raising=False)
    monkeypatch.setattr(protocol, "grpc_exporter_installed", lambda: False)

    with pytest.raises(EnvError, match="OTEL_EXPORTER_OTLP_PROTOCOL=grpc") as raised:
        tracing.make_exporter()

    assert "pip install" in str(raised.value)
    assert protocol.GRPC_EXPORTER_PACKAGE in str(raised.value)
    assert "`grpc` extra" in str(raised.value)


def test_the_message_asks_for_the_extra_pyproject_declares(monkeypatch: pytest.MonkeyPatch) -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    (requirement,) = pyproject["project"]["optional-dependencies"]["grpc"]
    monkeypatch.setattr(protocol, "grpc_exporter_installed", lambda: False)

    message = protocol.missing_exporter_message(Env({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}))

    assert message is not None
    assert f'pip install "{requirement}"' in message


def test_the_signal_specific_variable_is_the_one_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(protocol, "grpc_exporter_installed", lambda: False)
    env = Env({"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_PROTOCOL": "x"})

    message = protocol.missing_exporter_message(env)

    assert message is not None
    assert message.startswith("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=grpc needs")


def test_the_installed_grpc_extra_is_found_without_being_imported() -> None:
    result = python(
        "import sys\n"
        "from app.telemetry.tracing import protocol\n"
        "print(protocol.grpc_exporter_installed(), 'grpc' in sys.modules)\n"
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "False"]


def test_the_gunicorn_master_stops_with_one_line_when_grpc_is_missing(tmp_path: Path) -> None:
    """The master reads gunicorn.conf.py before forking: the error comes once, from there."""
    code = WITHOUT_GRPC_EXTRA + "import runpy; runpy.run_path('gunicorn.conf.py')\n"
    result = python(
        code,
        OTEL_EXPORTER_OTLP_ENDPOINT=ENDPOINT,
        OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path),
        TELEMETRY_ENABLED="true",
    )

    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("OTEL_EXPORTER_OTLP_PROTOCOL=grpc needs the optional OTLP gRPC")
    assert "pip install" in last


def test_grpc_is_not_needed_when_nothing_is_exported(tmp_path: Path) -> None:
    code = WITHOUT_GRPC_EXTRA + "import runpy; runpy.run_path('gunicorn.conf.py')\n"
    result = python(
        code,
        OTEL_EXPORTER_OTLP_ENDPOINT="",
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="",
        OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path),
    )

    assert result.returncode == 0, result.stderr

"""``manage.py graphql_schema [--check]`` in process (``make schema`` and ``make lint`` run it)."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from app.graphql import sdl
from app.graphql.management.commands import graphql_schema

pytestmark = pytest.mark.database_free


@pytest.fixture
def sdl_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The command and the staleness check write and read a copy, never the committed file."""
    path = tmp_path / "schema.graphql"
    monkeypatch.setattr(sdl, "SDL_PATH", path)
    monkeypatch.setattr(graphql_schema, "SDL_PATH", path)
    return path


def test_the_committed_sdl_is_current() -> None:
    call_command("graphql_schema", "--check")


def test_it_writes_the_sdl_the_code_defines(sdl_path: Path) -> None:
    out = StringIO()

    call_command("graphql_schema", stdout=out)

    assert sdl_path.read_text(encoding="utf-8") == sdl.schema_sdl()
    assert f"wrote {sdl_path}" in out.getvalue()


def test_check_fails_on_a_stale_file_and_names_the_fix(sdl_path: Path) -> None:
    sdl_path.write_text("type Query { stale: Int }\n", encoding="utf-8")

    with pytest.raises(CommandError, match=r"schema\.graphql is stale: run `make schema`"):
        call_command("graphql_schema", "--check")


def test_check_fails_when_the_file_is_missing(sdl_path: Path) -> None:
    with pytest.raises(CommandError, match="stale"):
        call_command("graphql_schema", "--check")

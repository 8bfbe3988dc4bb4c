"""``manage.py graphql_schema [--check]``: write (or check) ``app/graphql/schema.graphql``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from app.graphql.sdl import SDL_PATH, schema_sdl, stale


class Command(BaseCommand):
    """Write the GraphQL schema's SDL; ``--check`` only fails when the file is stale."""

    help = "Write app/graphql/schema.graphql from the code (--check: fail if it is stale)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--check", action="store_true", help="fail if the file is stale")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["check"]:
            if stale():
                raise CommandError(f"{SDL_PATH.name} is stale: run `make schema`")
            return
        SDL_PATH.write_text(schema_sdl(), encoding="utf-8")
        self.stdout.write(f"wrote {SDL_PATH}")

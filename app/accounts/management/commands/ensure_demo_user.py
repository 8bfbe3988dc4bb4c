"""``manage.py ensure_demo_user``: the local account `make run` prints a token recipe for."""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from app.accounts.services import user_ensure


class Command(BaseCommand):
    """Create the demo user if missing and print how to get a token for it."""

    help = "Create the demo user if it does not exist, and print how to get a JWT for it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="demo")
        parser.add_argument("--password", default="demo-password-2024")
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")
        parser.add_argument(
            "--staff", action="store_true", help="a staff user (admin, fault switch)"
        )

    def handle(
        self,
        *args: Any,
        username: str,
        password: str,
        base_url: str,
        staff: bool,
        **options: Any,
    ) -> None:
        _, created = user_ensure(username=username, password=password, staff=staff)
        state = "created" if created else "already exists (password unchanged)"
        self.stdout.write(f"Demo user {username!r} {state}. Get a token with:")
        self.stdout.write(
            f"  curl -s -X POST {base_url}/api/auth/token/ -H 'Content-Type: application/json' "
            f'-d \'{{"username": "{username}", "password": "{password}"}}\''
        )

"""``manage.py reset_fault_switch``: forget the runtime switch, back to the ``FAULT_*`` defaults."""

from typing import Any

from django.core.management.base import BaseCommand

from app.faults.services import fault_reset


class Command(BaseCommand):
    """Delete the switch's stored setting; every worker follows within FAULT_REFRESH_SECONDS."""

    help = (
        "Forget the fault switch's setting (on or off): the environment's FAULT_* defaults "
        "apply again in every worker within FAULT_REFRESH_SECONDS."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        fault_reset(user=None)
        self.stdout.write("Fault switch reset: the FAULT_* defaults apply again.")

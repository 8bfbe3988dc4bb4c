"""Reads of the fault switch."""

from app.faults.models import FaultSetting


def fault_setting_get() -> FaultSetting | None:
    """The runtime override, if one is set."""
    return FaultSetting.objects.filter(pk=FaultSetting.SINGLETON_ID).first()

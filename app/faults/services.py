"""Writes to the fault switch: set it or switch it off (never in production), or forget it."""

from __future__ import annotations

import structlog
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import transaction

from app.faults.config import describe, faults_allowed
from app.faults.models import FaultSetting
from app.faults.state import state

logger = structlog.get_logger(__name__)

REFUSED = "Fault injection is disabled in production."


def acting_user(candidate: object) -> User | None:
    """The user to record for a change (``request.user``), or ``None`` if anonymous."""
    return candidate if isinstance(candidate, User) else None


def _refuse_in_production(user: User | None, action: str) -> None:
    if not faults_allowed():
        logger.warning("fault_change_refused", action=action, by_user_id=getattr(user, "pk", None))
        raise PermissionDenied(REFUSED)


@transaction.atomic
def fault_set(
    *,
    error_rate: float,
    latency_ms: int,
    latency_jitter_ms: int,
    routes: list[str],
    user: User | None,
) -> FaultSetting:
    """Switch faults on (or change them) for every worker; refused in production."""
    _refuse_in_production(user, "set")
    setting = FaultSetting(
        pk=FaultSetting.SINGLETON_ID,
        error_rate=error_rate,
        latency_ms=latency_ms,
        latency_jitter_ms=latency_jitter_ms,
        routes=sorted(set(routes)),
        updated_by=user,
    )
    setting.full_clean(exclude=["updated_by"], validate_unique=False)
    setting.save()
    transaction.on_commit(lambda: _applied(config=setting, user=user))
    return setting


@transaction.atomic
def fault_clear(*, user: User | None) -> FaultSetting:
    """Switch faults off for every worker until they are set again, whatever ``FAULT_*`` say.

    Stored as an "off" setting (not a missing one), so workers that start later and server
    restarts keep it off too; refused in production.
    """
    _refuse_in_production(user, "clear")
    setting = FaultSetting(pk=FaultSetting.SINGLETON_ID, routes=[], updated_by=user)
    setting.save()
    transaction.on_commit(lambda: _applied(config=setting, user=user))
    return setting


@transaction.atomic
def fault_reset(*, user: User | None) -> None:
    """Forget the switch's setting: the environment's ``FAULT_*`` defaults apply again."""
    FaultSetting.objects.filter(pk=FaultSetting.SINGLETON_ID).delete()
    transaction.on_commit(lambda: _applied(config=None, user=user))


def _applied(*, config: FaultSetting | None, user: User | None) -> None:
    """Apply in this worker at once (others follow within a second) and log the change."""
    state.set_override(config.to_config() if config is not None else None)
    current = state.current()
    logger.warning(
        "fault_changed",
        source="runtime" if config is not None else "environment",
        active=current.active,
        by_user_id=getattr(user, "pk", None),
        **describe(current),
    )

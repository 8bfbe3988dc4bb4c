"""The fault switch's setting: one row once staff set or cleared it, none before."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from app.faults.config import FaultConfig

MAX_LATENCY_MS = 60_000


class FaultSetting(models.Model):
    """Faults a staff user switched on, or off (all zero); no row: the environment's defaults."""

    SINGLETON_ID = 1

    error_rate = models.FloatField(
        default=0.0, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    latency_ms = models.PositiveIntegerField(
        default=0, validators=[MaxValueValidator(MAX_LATENCY_MS)]
    )
    latency_jitter_ms = models.PositiveIntegerField(
        default=0, validators=[MaxValueValidator(MAX_LATENCY_MS)]
    )
    routes = models.JSONField(
        default=list, blank=True, help_text="Route templates, e.g. /api/todos/{id}/; empty: all."
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        verbose_name = "fault setting"

    def __str__(self) -> str:
        return f"error {self.error_rate:g}, +{self.latency_ms} ms (±{self.latency_jitter_ms})"

    def to_config(self) -> FaultConfig:
        """The injection config this row asks for."""
        return FaultConfig(
            error_rate=self.error_rate,
            latency_ms=float(self.latency_ms),
            jitter_ms=float(self.latency_jitter_ms),
            routes=frozenset(self.routes) or frozenset({"*"}),
        )

"""The fault switch's representation."""

from typing import Any

from rest_framework import serializers

from app.api.fields import RejectUnknownFieldsMixin, StrictCharField
from app.faults.models import MAX_LATENCY_MS


class FaultSwitchSerializer(RejectUnknownFieldsMixin, serializers.Serializer[Any]):
    """Faults to inject: an error ratio, added latency, and the routes they apply to."""

    error_rate = serializers.FloatField(min_value=0.0, max_value=1.0, default=0.0)
    latency_ms = serializers.IntegerField(min_value=0, max_value=MAX_LATENCY_MS, default=0)
    latency_jitter_ms = serializers.IntegerField(min_value=0, max_value=MAX_LATENCY_MS, default=0)
    routes = serializers.ListField(
        child=StrictCharField(max_length=200),
        default=list,
        max_length=50,
        help_text=(
            "Route templates such as /api/todos/{id}/; empty: every route. "
            "`jobs`: export jobs fail (the task raises) at error_rate."
        ),
    )


class FaultStateSerializer(FaultSwitchSerializer):
    """What this worker applies now, and where it comes from."""

    active = serializers.BooleanField(read_only=True)
    source = serializers.ChoiceField(  # type: ignore[assignment]  # a field named like Field.source
        choices=["environment", "runtime"], read_only=True
    )

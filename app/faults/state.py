"""This process's faults: the environment's defaults, or the fault switch's runtime override.

The poller (``app.faults.poller``) applies the switch's override in each worker; the middleware
reads ``state.current()`` on every routed request.
"""

from __future__ import annotations

from app.faults.config import FaultConfig, faults_allowed, faults_from_environment
from app.faults.metrics import publish


class FaultState:
    """This process's faults: the environment's defaults unless a runtime override is set."""

    def __init__(self) -> None:
        self._defaults: FaultConfig | None = None
        self._override: FaultConfig | None = None

    def current(self) -> FaultConfig:
        """The faults to apply now."""
        if self._override is not None:
            return self._override
        if self._defaults is None:
            self._defaults = faults_from_environment()
            publish(self._defaults)
        return self._defaults

    @property
    def overridden(self) -> bool:
        """True while a runtime override (from the fault switch) is applied."""
        return self._override is not None

    def set_override(self, config: FaultConfig | None) -> None:
        """Apply a runtime override (``None``: back to the environment's defaults)."""
        if config is not None and config.active and not faults_allowed():
            config = None
        if config == self._override:
            return
        self._override = config
        publish(self.current())

    def reset(self) -> None:
        """Forget everything (tests)."""
        self._defaults = None
        self._override = None


state = FaultState()

"""This process's faults: the fault switch's stored setting, or the environment's defaults.

The ``FAULT_*`` variables are the switch's starting position: they apply only while the switch
has never been set (no row in the database). Once staff set it (``PUT``) or clear it
(``DELETE``: stored as "off"), the stored setting decides in every worker and replica sharing
the database, across worker and server restarts, until the next change;
``manage.py reset_fault_switch`` forgets it, and the defaults apply again. The poller
(``app.faults.poller``) applies the stored setting in each worker, once before the worker
serves and then every ``FAULT_REFRESH_SECONDS``; the middleware reads ``state.current()`` on
every routed request.
"""

from __future__ import annotations

from app.faults.config import FaultConfig, faults_allowed, faults_from_environment
from app.faults.metrics import publish


class FaultState:
    """This process's faults: the switch's stored setting, else the environment's defaults."""

    def __init__(self) -> None:
        self._defaults: FaultConfig | None = None
        self._override: FaultConfig | None = None
        self._published: FaultConfig | None = None

    def defaults(self) -> FaultConfig:
        """The environment's faults, read once (a bad value raises ``ImproperlyConfigured``)."""
        if self._defaults is None:
            self._defaults = faults_from_environment()
        return self._defaults

    def current(self) -> FaultConfig:
        """The faults to apply now (shown in the gauges from the first call on)."""
        config = self._override if self._override is not None else self.defaults()
        if config is not self._published:
            self._published = config
            publish(config)
        return config

    @property
    def overridden(self) -> bool:
        """True while the switch's stored setting (on or off) applies instead of the defaults."""
        return self._override is not None

    def set_override(self, config: FaultConfig | None) -> None:
        """Apply the switch's stored setting (``None``: never set, the defaults apply)."""
        if config is not None and config.active and not faults_allowed():
            config = None
        if config == self._override:
            return
        self._override = config
        self.current()

    def reset(self) -> None:
        """Forget everything (tests)."""
        self._defaults = None
        self._override = None
        self._published = None


state = FaultState()

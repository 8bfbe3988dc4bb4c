"""``with helper:`` for the test helpers that run in the background (load, receivers, proxy)."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self


class Background:
    """Started on entering a ``with`` block and shut down on leaving it.

    Subclasses define ``start()`` (returning ``self``) and ``stop()``; ``finish(exc)`` runs
    after ``stop()``, with the block's exception if it raised.
    """

    def start(self) -> Self:
        """Begin running in the background."""
        raise NotImplementedError

    def stop(self) -> Any:
        """Stop running and release what ``start()`` took."""
        raise NotImplementedError

    def finish(self, exc: BaseException | None) -> None:
        """Checks to make once shut down (none by default)."""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
        self.finish(exc)

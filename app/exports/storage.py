"""Export files on disk, in ``EXPORT_STORAGE_DIR``: written atomically, read, removed.

A file appears under its final name only when complete (written to a temporary name in the
same directory, then renamed), so a run killed half-way leaves no partial export behind and a
second run of the same job simply replaces the file with the same content.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from django.conf import settings


def storage_dir() -> Path:
    """The directory holding export files (created on first write)."""
    return Path(settings.EXPORT_STORAGE_DIR)


def path_of(file_name: str) -> Path:
    """Where the export file named ``file_name`` lives."""
    return storage_dir() / file_name


@contextlib.contextmanager
def atomic_writer(file_name: str) -> Iterator[IO[str]]:
    """A text file to write; it takes ``file_name`` only if the block completes."""
    directory = storage_dir()
    directory.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=".partial-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        Path(temporary).replace(directory / file_name)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def remove(file_name: str) -> None:
    """Delete the file if it exists."""
    path_of(file_name).unlink(missing_ok=True)

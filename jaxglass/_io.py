"""Atomic file writes: the one helper the package uses so that no reader ever sees a half-written file.

Each function writes to a temporary file in the destination folder and renames it over ``path``
(``os.replace`` is atomic on POSIX and Windows within one file system); the parent folder is created.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a folder; give a file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "xb") as fh:  # default permissions (umask), unlike mkstemp's 0600
            fh.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def atomic_write_text(path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically; returns the path."""
    return atomic_write_bytes(path, text.encode(encoding))


def atomic_savez(path, arrays: dict[str, Any], *, compressed: bool = False) -> Path:
    """``numpy.savez`` (``savez_compressed`` if ``compressed``) of ``arrays`` exactly at ``path`` (no
    ``.npz`` appended), atomically."""
    import io

    import numpy as np

    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    return atomic_write_bytes(path, buf.getvalue())

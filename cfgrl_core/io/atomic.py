"""Atomic writes: a file is either its old content or its new content, never half of one.

atomic_write_bytes(path, data)   temporary file in the same folder, fsync, os.replace
atomic_write_json(path, obj)     the same for JSON (indent 1, trailing newline)
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write `data` to `path` via a temporary file in the same folder and os.replace. Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file ordinary permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_json(path, obj, *, default=None) -> Path:
    """JSON of `obj` (indent 1, newline-terminated), written atomically."""
    return atomic_write_bytes(path, (json.dumps(obj, indent=1, default=default) + "\n").encode())

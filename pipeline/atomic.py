"""Write a file so that readers (and DVC) see the old one or the whole new one, never half.

Every stage output that is not an HDF5 shard (those have their own writer, pipeline/shards.py)
goes through `write_atomic`: the content goes to a hidden temporary file next to the target,
which is renamed over it only once complete, so a stage killed mid-write leaves the previous
file (or none) behind.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable


def write_atomic(path: str | Path, content: str | bytes | Callable[[Path], None]) -> Path:
    """Write text, bytes, or whatever `content(tmp_path)` writes, to `path` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        if isinstance(content, str):
            tmp.write_text(content)
        elif isinstance(content, bytes):
            tmp.write_bytes(content)
        else:
            content(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path

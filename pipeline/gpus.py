"""One GPU per training process when several run at once on a host with several GPUs.

`dvc queue start -j N` runs N experiments side by side, and DVC has no per-worker device
setting: left alone, every worker would train on cuda:0. So a training process claims a GPU by
itself: it takes an exclusive lock on one file per device (`<lock dir>/<index>.lock`, the first
it can), holds it until it exits, and says which it took; when every GPU is held it waits for
one. The lock is advisory and per host: processes of other programs are not counted.

- one visible GPU: no lock, every process shares it;
- GLIMPSE_GPU=<index>: use that device, no lock (a scheduler that assigns devices itself);
- GLIMPSE_GPU_LOCKS=<folder>: where the lock files live (default: the system's temp folder).
"""

from __future__ import annotations

import fcntl
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

_held: tuple[int, IO] | None = None      # the device this process claimed, and its open lock


def lock_dir() -> Path:
    return Path(os.environ.get("GLIMPSE_GPU_LOCKS", Path(tempfile.gettempdir()) / "glimpse-gpus"))


def claim_gpu(count: int, folder: Path | None = None, wait_s: float = 5.0) -> int:
    """The index of the GPU this process trains on (the same on every call)."""
    global _held
    if _held is not None:
        return _held[0]
    if os.environ.get("GLIMPSE_GPU"):
        return int(os.environ["GLIMPSE_GPU"])
    if count <= 1:
        return 0
    folder = folder or lock_dir()
    folder.mkdir(parents=True, exist_ok=True)
    said = False
    while True:
        for index in range(count):
            handle = open(folder / f"{index}.lock", "a+")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            _held = (index, handle)
            print(f"using GPU {index} of {count} (lock {folder / f'{index}.lock'})", file=sys.stderr)
            return index
        if not said:
            print(f"all {count} GPUs are held by other Glimpse runs (locks in {folder}); waiting",
                  file=sys.stderr)
            said = True
        time.sleep(wait_s)


def release_gpu() -> None:
    """Let go of the claimed GPU before the process ends (tests; exiting does it too)."""
    global _held
    if _held is not None:
        _held[1].close()
        _held = None

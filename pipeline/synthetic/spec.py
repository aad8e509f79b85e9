"""The record a layout writer receives: one clip's pixels and the annotation to write for it.

The generator decides everything (including deliberate quirks: an annotation that disagrees with
the frames on disk, a missing apex, a folder with no spreadsheet row); the writers in
`layouts.py` only put it on disk in a real database's layout, byte for byte the way the real
release does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ClipToWrite:
    subject: int                   # subject number (1 -> sub01 / 001 / s1, per database)
    clip: str                      # native clip name: EP02_01f, 006_1_2, s1_ne_01
    frames: np.ndarray             # (T, H, W, 3) uint8 RGB, or (T, H, W) uint8 grey
    frame_numbers: list[int]       # number written into each file name (on-disk truth)
    onset: int | str               # annotation as written in the sheet (may be quirky)
    apex: int | str                # "/" writes CASME II's missing-apex marker
    offset: int | str
    emotion: str                   # native spelling: "happiness", "Anger", "negative"
    action_units: str | int = ""   # written as is; an int mimics a single-AU cell
    objective_class: int | None = None   # SAMM only
    inducement: int = 1            # SAMM only: inducement code
    in_sheet: bool = True          # False: folder on disk with no spreadsheet row
    on_disk: bool = True           # False: spreadsheet row with no folder

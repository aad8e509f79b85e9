"""SMIC (Oulu), HS at 100 fps, VIS and NIR at 25 fps, as it ships.

`SMIC_all_cropped/<HS|VIS|NIR>/s<k>/micro/<negative|positive|surprise>/<clip>/reg_image<6 digits>.bmp`
(raw: `SMIC_all_raw/.../image<6 digits>.bmp`). There is no coding sheet: the label is the class
folder's name, onset and offset are the first and last frames on disk, and there is no apex (it
is spotted from the frames later). The sibling `non_micro/` folders hold no micro-expressions
and are not read.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.databases.common import AdapterResult, Clip, DatabaseError, RowIssue
from pipeline.databases.frames import (FrameLayout, find_layout, first_missing, list_frames,
                                       require_root, subfolders, unreadable_frame)

LAYOUTS = (FrameLayout("SMIC_all_cropped", r"reg_image(\d+)\.bmp", "reg_image<6 digits>.bmp"),
           FrameLayout("SMIC_all_raw", r"image(\d+)\.bmp", "image<6 digits>.bmp"))
CLASSES = ("negative", "positive", "surprise")
FPS = {"HS": 100, "VIS": 25, "NIR": 25}


def clip_problem(folder: Path, names: list[str], numbers: list[int], layout: FrameLayout) -> str | None:
    """Why a clip folder cannot be used, or None."""
    if not names:
        return f"empty folder: no {layout.shown} frames"
    gap = first_missing(numbers, numbers[0], numbers[-1])
    if gap is not None:
        return f"frame {gap} missing inside onset..offset {numbers[0]}..{numbers[-1]}"
    bad = unreadable_frame(folder, names)
    return f"unreadable frame {bad}" if bad else None


def read_smic(root: Path | str, modality: str) -> AdapterResult:
    """One modality (HS, VIS or NIR) of SMIC."""
    key = f"smic_{modality.lower()}"
    root = require_root(root, "SMIC", "smic", "SMIC_all_cropped/ (or SMIC_all_raw/)")
    layout = find_layout(root, LAYOUTS, "SMIC")
    base = root / layout.folder / modality
    if not base.is_dir():
        raise DatabaseError(f"{base}: no SMIC {modality} folder; put the release's {modality}/ "
                            f"folder in {root / layout.folder} or drop {key} from index.use")
    clips, issues = [], []
    for subject in subfolders(base):
        micro = subject / "micro"
        if not micro.is_dir():
            issues.append(RowIssue(key, str(subject), None, f"{key}/{subject.name}", "skipped",
                                   "no micro/ folder"))
            continue
        for label in subfolders(micro):
            if label.name not in CLASSES:
                raise DatabaseError(f"{label}: unknown SMIC class folder {label.name!r}; allowed: "
                                    f"{', '.join(CLASSES)}; rename or remove the folder")
            for folder in subfolders(label):
                names, numbers = list_frames(folder, layout)
                problem = clip_problem(folder, names, numbers, layout)
                if problem:
                    issues.append(RowIssue(key, str(folder), None,
                                           f"{key}/{subject.name}/{folder.name}", "skipped", problem))
                    continue
                clips.append(Clip(database=key, subject=subject.name, clip=folder.name,
                                  frame_dir=folder, frames=names, frame_numbers=numbers,
                                  onset=numbers[0], apex=None, offset=numbers[-1],
                                  fps=FPS[modality], emotion=label.name, source=str(label)))
    return AdapterResult(clips, issues)

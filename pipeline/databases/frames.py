"""Frames on disk: finding a release's frame folder, listing a clip by frame number, and cheap
checks that every listed frame can be used.

Frame numbers come from the file names (`reg_img46.jpg` -> 46) and are sorted as numbers, so
`img2` comes before `img10`. Frames are not decoded here: a 17k-frame database must index in
seconds, so a frame counts as readable when it is non-empty and starts with an image signature.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pipeline.databases.common import DatabaseError

# JPEG, BMP and PNG file signatures.
SIGNATURES = (b"\xff\xd8\xff", b"BM", b"\x89PNG\r\n\x1a\n")


@dataclass(frozen=True)
class FrameLayout:
    folder: str                    # folder under the database root: "Cropped"
    pattern: str                   # frame file name, number captured: r"reg_img(\d+)\.jpg"
    shown: str                     # the same for people: "reg_img<N>.jpg"

    def number(self, name: str) -> int | None:
        match = re.fullmatch(self.pattern, name, flags=re.IGNORECASE)
        return int(match.group(1)) if match else None


def require_root(root: Path | str, title: str, key: str, holds: str) -> Path:
    """The configured root, or a one-line error saying which params.yaml entry to fix."""
    root = Path(root)
    if not root.is_dir():
        raise DatabaseError(f"{root}: {title} folder does not exist; set databases.{key} in "
                            f"params.yaml to the folder that holds {holds}")
    return root


def find_layout(root: Path, layouts: tuple[FrameLayout, ...], title: str) -> FrameLayout:
    """The first of the release's frame layouts present under root (cropped before raw)."""
    for layout in layouts:
        if (root / layout.folder).is_dir():
            return layout
    looked = ", ".join(f"{layout.folder}/" for layout in layouts)
    raise DatabaseError(f"{root}: no {title} frame folder; looked for {looked}; put the "
                        "release's frame folder here")


def natural_key(name: str) -> tuple:
    """Sort s2 before s10: digit runs compare as numbers."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


def subfolders(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.is_dir()), key=lambda p: natural_key(p.name))


def list_frames(folder: Path, layout: FrameLayout) -> tuple[list[str], list[int]]:
    """Frame file names and their numbers, in frame order; other files (Thumbs.db) are ignored."""
    found = sorted((n, name) for name in (p.name for p in folder.iterdir())
                   if (n := layout.number(name)) is not None)
    return [name for _, name in found], [n for n, _ in found]


def unreadable_frame(folder: Path, names: list[str]) -> str | None:
    """The first frame file that is empty or does not start with an image signature."""
    for name in names:
        with open(folder / name, "rb") as file:
            head = file.read(8)
        if not head.startswith(SIGNATURES):
            return name
    return None


def first_missing(numbers: list[int], start: int, stop: int) -> int | None:
    """The first frame number in start..stop with no file on disk."""
    present = set(numbers)
    return next((n for n in range(start, stop + 1) if n not in present), None)

"""A folder of videos as a database: `videos.csv` says which stretch of which video is a clip.

    <root>/videos.csv         subject,file,onset,apex,offset,emotion
    <root>/<file>             mp4, mov, avi, ... (whatever OpenCV's FFmpeg reads)

`file` is relative to the root; onset, apex and offset are the video's 1-based frame numbers
(apex may be empty: spotted later); emotion is spelled as CASME II spells it, or empty for an
unlabelled clip. The frame rate is the video's own.

Reading the database decodes every listed stretch once, in one pass over each video, into PNG
files under `FRAMES/<subject>/<clip>/<n>.png` (pipeline/video.py says why files), and returns
clips pointing at them, so that everything after the index treats these clips like CASME II's.
The new frames are written beside the old ones and swapped in only when every video has been
decoded: a failed read leaves the previous frames as they were.

Clip names come from the file name (`takes/s1 happy.mp4` -> `s1_happy`), with `_1`, `_2`, ...
in onset order when one video holds several clips. Rows whose frame range does not fit the video
are repaired or skipped (RowIssue), as the other adapters do; a missing header column, a missing
or unreadable video, an unknown emotion or a cell that is not a frame number stops the index with
one line naming the file and line.
"""

from __future__ import annotations

import csv
import re
import shutil
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from pipeline.databases.casme2 import EMOTIONS
from pipeline.databases.common import AdapterResult, Clip, DatabaseError, RowIssue
from pipeline.databases.frames import require_root
from pipeline.video import VideoError, frame_name, frames_up_to, open_video, png_bytes

KEY = "videos"
LIST = "videos.csv"
HEADER = ("subject", "file", "onset", "apex", "offset", "emotion")
FRAMES = Path("data/frames/videos")          # relative to the repository root, an index output
APEX_MISSING = "-> missing, spotted later"


@dataclass
class Row:
    """One line of videos.csv after its cells were checked."""

    line: int                      # 1-based line of videos.csv (the header is line 1)
    subject: str
    file: str                      # as written, relative to the root
    onset: int
    apex: int | None
    offset: int
    emotion: str                   # CASME II's spelling, "" when unlabelled
    clip: str = ""                 # set once every row of the video is known
    repairs: list[str] = field(default_factory=list)


def frame_number(cell: str, path: Path, line: int, column: str, required: bool) -> int | None:
    """A frame number cell: digits (an optional sign), or empty where allowed."""
    if not cell:
        if required:
            raise DatabaseError(f"{path} line {line}: {column} is empty; give the video's "
                                "1-based frame number")
        return None
    if not re.fullmatch(r"[+-]?\d+", cell):
        raise DatabaseError(f"{path} line {line}: {column} {cell!r} is not a frame number; "
                            "correct the cell")
    return int(cell)


def parse_row(cells: dict[str, str], path: Path, line: int) -> Row:
    spelling = {e.lower(): e for e in EMOTIONS}
    written = cells["emotion"]
    if written and written.lower() not in spelling:
        raise DatabaseError(f"{path} line {line}: unknown emotion {written!r}; allowed: "
                            f"{', '.join(EMOTIONS)} or empty; correct the cell")
    emotion = spelling.get(written.lower(), "")
    subject, file = cells["subject"], cells["file"]
    if not subject or re.search(r"[/\\|]", subject) or subject in {".", ".."}:
        raise DatabaseError(f"{path} line {line}: subject {subject!r} cannot name a folder; "
                            "give a name without / \\ |")
    if not file:
        raise DatabaseError(f"{path} line {line}: file is empty; give the video's path "
                            f"relative to {path.parent}")
    row = Row(line, subject, file, frame_number(cells["onset"], path, line, "onset", True),
              frame_number(cells["apex"], path, line, "apex", False),
              frame_number(cells["offset"], path, line, "offset", True), emotion)
    if emotion != written and written:
        row.repairs.append(f"emotion {written!r} -> {emotion!r}")
    return row


def read_list(path: Path) -> list[Row]:
    """Every data line of videos.csv, columns found by name (case and spaces ignored)."""
    if not path.is_file():
        raise DatabaseError(f"{path}: not found; put videos.csv ({','.join(HEADER)}) in the "
                            "folder that databases.videos in params.yaml names")
    with open(path, newline="", encoding="utf-8-sig") as file:
        lines = list(csv.reader(file))
    header = [" ".join(h.split()).lower() for h in (lines[0] if lines else [])]
    missing = [name for name in HEADER if name not in header]
    if missing:
        raise DatabaseError(f"{path} line 1: missing columns {', '.join(missing)}; header found: "
                            f"{','.join(lines[0]) if lines else '(empty file)'}; the first line "
                            f"must be {','.join(HEADER)}")
    where = {name: header.index(name) for name in HEADER}
    rows = []
    for line, fields in enumerate(lines[1:], start=2):
        if not "".join(fields).strip():
            continue
        cells = {name: fields[i].strip() if i < len(fields) else "" for name, i in where.items()}
        rows.append(parse_row(cells, path, line))
    return rows


def clip_stem(file: str) -> str:
    """A folder- and id-safe clip name from a video's file name: 's1 happy.mp4' -> 's1_happy'."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(file).stem).strip("._") or "video"


def name_clips(rows: list[Row], path: Path) -> tuple[list[Row], list[tuple[Row, Row]]]:
    """Every row with its clip name, in file order, and the exact repeats (row, the line it
    repeats), which are dropped; two rows that would make one sample id stop."""
    by_video: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in rows:
        by_video[(row.subject, row.file)].append(row)
    kept, repeats, seen = [], [], {}
    for (subject, file), group in by_video.items():
        group = sorted(group, key=lambda r: (r.onset, r.offset, r.line))
        unique: list[Row] = []
        for row in group:
            twin = next((u for u in unique if (u.onset, u.offset) == (row.onset, row.offset)), None)
            if twin is None:
                unique.append(row)
            elif (twin.apex, twin.emotion) == (row.apex, row.emotion):
                repeats.append((row, twin))
            else:
                raise DatabaseError(f"{path} lines {twin.line} and {row.line}: {file} "
                                    f"{row.onset}..{row.offset} listed twice with different "
                                    "apex or emotion; delete the wrong line")
        stem = clip_stem(file)
        for k, row in enumerate(unique, start=1):
            row.clip = stem if len(unique) == 1 else f"{stem}_{k}"
            other = seen.setdefault((subject, row.clip), row)
            if other is not row:
                raise DatabaseError(f"{path} lines {other.line} and {row.line}: {other.file} and "
                                    f"{row.file} would both be clip {subject}/{row.clip}; rename "
                                    "one of the videos")
        kept += unique
    return sorted(kept, key=lambda r: r.line), repeats


def fit_range(row: Row, length: int | None) -> str | None:
    """Repair onset/apex/offset to the frames the video has (`length`; None: the video reaches
    past the offset); the reason to skip the row, or None."""
    if row.offset < row.onset:
        return f"offset {row.offset} before onset {row.onset}; correct the line"
    if row.offset < 1 or (length is not None and row.onset > length):
        frames = f"1..{length}" if length is not None else "from 1"
        return (f"onset..offset {row.onset}..{row.offset} outside the video's frames {frames}; "
                "correct the line")
    if row.onset < 1:
        row.repairs.append(f"onset {row.onset} before the first frame 1 -> 1")
        row.onset = 1
    if length is not None and row.offset > length:
        row.repairs.append(f"offset {row.offset} past the video's last frame {length} -> {length}")
        row.offset = length
    if row.apex is not None and not row.onset < row.apex < row.offset:
        row.repairs.append(f"apex {row.apex} not inside onset..offset {row.onset}..{row.offset} "
                           f"{APEX_MISSING}")
        row.apex = None
    return None


def decode_video(video: Path, rows: list[Row], staging: Path) -> tuple[float, int | None]:
    """Decode `video` once, writing every row's onset..offset frames into
    staging/<subject>/<clip>/; (fps, number of frames if the video ended before the last
    offset asked for, else None)."""
    capture, info = open_video(video)
    wanted = {n for row in rows for n in range(max(row.onset, 1), row.offset + 1)}
    last = max(row.offset for row in rows)
    seen = 0
    try:
        for number, frame in frames_up_to(capture, last, wanted):
            seen = number
            if frame is None:
                continue
            data = png_bytes(frame)
            for row in rows:
                if row.onset <= number <= row.offset:
                    folder = staging / row.subject / row.clip
                    folder.mkdir(parents=True, exist_ok=True)
                    (folder / frame_name(number)).write_bytes(data)
    finally:
        capture.release()
    if seen == 0:
        raise VideoError(f"{video}: OpenCV opens the video but decodes no frame from it; "
                         "re-encode it as mp4 (H.264 or MPEG-4) or avi (MJPG)")
    return info.fps, seen if seen < last else None


def swap_in(staging: Path, target: Path) -> None:
    """Replace `target` by the complete `staging` folder (the old one is removed after)."""
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    staging.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def clear_frames(target: Path = FRAMES) -> None:
    """An empty frames folder: what the index leaves when no video database is in use."""
    staging = target.with_name(f".{target.name}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    swap_in(staging, target)


def read_videos(root: Path | str, frames: Path = FRAMES) -> AdapterResult:
    """Clips of every usable videos.csv line, their frames decoded into `frames`."""
    root = require_root(root, "videos", KEY, f"{LIST} and the videos it lists")
    sheet = root / LIST
    named, repeats = name_clips(read_list(sheet), sheet)
    issues = [RowIssue(KEY, str(sheet), row.line, f"{KEY}/{row.subject}/{twin.clip}", "skipped",
                       f"duplicate of line {twin.line}") for row, twin in repeats]

    by_file: dict[str, list[Row]] = defaultdict(list)
    for row in named:
        video = root / row.file
        if not video.is_file():
            raise DatabaseError(f"{sheet} line {row.line}: video {row.file} not found in {root}; "
                                "correct the file cell or put the video there")
        by_file[row.file].append(row)

    staging = frames.with_name(f".{frames.name}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    clips = []
    try:
        for file, group in tqdm(by_file.items(), desc="videos", unit="video"):
            usable = []
            for row in group:                   # what can be told before decoding
                skip = fit_range(row, None)
                if skip is None:
                    usable.append(row)
                else:
                    issues.append(RowIssue(KEY, str(sheet), row.line,
                                           f"{KEY}/{row.subject}/{row.clip}", "skipped",
                                           f"{file}: {skip}"))
            if not usable:
                continue
            try:
                fps, length = decode_video(root / file, usable, staging)
            except VideoError as error:
                raise DatabaseError(f"{error} (videos.csv line {group[0].line})") from None
            for row in usable:
                sample = f"{KEY}/{row.subject}/{row.clip}"
                skip = fit_range(row, length)
                folder = staging / row.subject / row.clip
                if skip is not None:
                    shutil.rmtree(folder, ignore_errors=True)
                    issues.append(RowIssue(KEY, str(sheet), row.line, sample, "skipped",
                                           f"{file}: {skip}"))
                    continue
                numbers = list(range(row.onset, row.offset + 1))
                clips.append(Clip(database=KEY, subject=row.subject, clip=row.clip,
                                  frame_dir=frames / row.subject / row.clip,
                                  frames=[frame_name(n) for n in numbers], frame_numbers=numbers,
                                  onset=row.onset, apex=row.apex, offset=row.offset, fps=fps,
                                  emotion=row.emotion, source=str(sheet), row=row.line,
                                  repairs=list(row.repairs)))
                issues += [RowIssue(KEY, str(sheet), row.line, sample, "repaired", r)
                           for r in row.repairs]
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    swap_in(staging, frames)
    return AdapterResult(sorted(clips, key=lambda c: c.sample_id), issues)

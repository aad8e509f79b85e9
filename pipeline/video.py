"""Video files as frames: opened with OpenCV (its FFmpeg build), decoded once, kept as PNGs.

A folder of videos becomes a database like the others (pipeline/databases/videos.py) by
decoding each listed video's clips onset..offset into PNG files that the index stage owns
(data/frames/videos/<subject>/<clip>/<n>.png, `n` the video's 1-based frame number). Every
later stage then reads frames from files, as for CASME II or SAMM, and the index's digest of
those files decides, as for every database, whether align must run again.

Why PNG files and not decoding in every stage: a video is decoded from its first frame
(OpenCV's frame seeking lands on key frames, not always on the frame asked for, so a clip's
frames are only exact when read in order), which for a clip late in a long video would repeat
the whole decode in each stage that reads frames and in every contact sheet; PNG is lossless, so
the files hold exactly the decoded pixels, and a given OpenCV build writes the same bytes for the
same pixels, so re-running the index on an unchanged video changes no hash. Only onset..offset
is kept: about 0.5 MB per 640x480 frame (sensor noise barely compresses; 48 kB at 170x140), once
more in DVC's cache, and 25 ms to encode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

PNG = [cv2.IMWRITE_PNG_COMPRESSION, 3]     # fixed, so the bytes do not follow OpenCV's default


class VideoError(Exception):
    """A video cannot be opened or decoded. One line naming the file."""


@dataclass(frozen=True)
class VideoInfo:
    fps: float              # frames per second, as the container states it
    width: int
    height: int


def open_video(path: Path) -> tuple[cv2.VideoCapture, VideoInfo]:
    """An opened capture positioned before the first frame, and what the container says."""
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)   # its warning repeats ours
    try:
        capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    finally:
        cv2.utils.logging.setLogLevel(level)
    if not capture.isOpened():
        capture.release()
        raise VideoError(f"{path}: OpenCV cannot open this video; re-encode it as mp4 (H.264 "
                         "or MPEG-4) or avi (MJPG)")
    fps = float(capture.get(cv2.CAP_PROP_FPS))
    info = VideoInfo(fps, int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
                     int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    if not math.isfinite(fps) or fps <= 0:
        capture.release()
        raise VideoError(f"{path}: the video states no frame rate; re-encode it with one "
                         "(ffmpeg -r)")
    return capture, info


def frames_up_to(capture: cv2.VideoCapture, last: int,
                 wanted: set[int]) -> Iterator[tuple[int, np.ndarray | None]]:
    """(frame number from 1, BGR frame (H, W, 3) uint8 or None) in order up to `last` or the
    end of the video, whichever comes first; frames not in `wanted` are only grabbed (decoded
    but not converted), which is what makes skipping to a late clip cheap."""
    for number in range(1, last + 1):
        if not capture.grab():
            return
        if number not in wanted:
            yield number, None
            continue
        ok, frame = capture.retrieve()
        if not ok:
            return
        yield number, frame


def frame_name(number: int) -> str:
    """The PNG file of a video's frame `number`: 46 -> '46.png'."""
    return f"{number}.png"


def png_bytes(frame: np.ndarray) -> bytes:
    """A BGR frame (H, W, 3) uint8 as PNG file bytes (lossless, reproducible)."""
    ok, encoded = cv2.imencode(".png", frame, PNG)
    if not ok:
        raise VideoError(f"cannot encode a {frame.shape} frame as PNG")
    return encoded.tobytes()

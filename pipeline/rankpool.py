"""Approximate rank pooling (dynamic images) and SMA-STN's DSSI snippet sampling.

A dynamic image summarises a short clip in one still image: the weighted sum of its frames whose
weights are those of approximate rank pooling (Bilen et al.), so that the image encodes how
appearance changes over time. SMA-STN feeds four of them per clip to its network: one of
(onset, middle, offset) and three of snippets drawn across the expression (DSSI).

The weights are applied to the raw frames. The paper writes them as `beta_t = 2t - T - 1`, which
is the same operator only when applied to the running means V_t = mean(frame_1..frame_t);
`a_t = sum_{k=t..T} beta_k / k` is that operator moved onto the frames themselves.
"""

from __future__ import annotations

import numpy as np


def arp_weights(T: int) -> np.ndarray:
    """Approximate rank pooling weights a_t = sum_{k=t..T} (2k - T - 1) / k for t = 1..T.

    Returns float64 of shape (T,). T = 1 gives [1.] (a one-frame clip is its own image); for
    T > 1 the weights sum to 0.
    """
    if T < 1:
        raise ValueError(f"arp_weights needs T >= 1 frames, got {T}")
    if T == 1:
        return np.ones(1)
    k = np.arange(1, T + 1, dtype=np.float64)  # (T,)
    terms = (2 * k - T - 1) / k                # (T,) beta_k / k
    return np.cumsum(terms[::-1])[::-1].copy()  # (T,) suffix sums: a_t = sum_{k >= t}


def dynamic_image(frames: np.ndarray) -> np.ndarray:
    """The dynamic image sum_t a_t * frame_t of a clip, per pixel and channel.

    frames: (T, H, W) or (T, H, W, C), any numeric dtype. The sum is taken in float64 and the
    result returned as float32 of shape (H, W) or (H, W, C).
    """
    frames = np.asarray(frames)
    if frames.ndim not in (3, 4):
        raise ValueError(f"frames must be (T, H, W) or (T, H, W, C), got shape {frames.shape}")
    a = arp_weights(len(frames))                                         # (T,)
    di = np.tensordot(a, frames.astype(np.float64, copy=False), axes=1)  # (H, W[, C])
    return di.astype(np.float32)


def to_uint8(di: np.ndarray) -> np.ndarray:
    """Map a dynamic image to uint8: subtract the global minimum (all channels together), scale
    so that the maximum becomes 255, and round (not truncate). A constant image gives zeros."""
    x = np.asarray(di, dtype=np.float64)
    x = x - x.min()
    top = x.max()
    if top == 0:
        return np.zeros(x.shape, dtype=np.uint8)
    return np.rint(x * (255.0 / top)).astype(np.uint8)


def dssi_indices(onset: int, offset: int,
                 rng: np.random.Generator | None = None) -> np.ndarray:
    """Frame indices of the four DSSI snippets, (4, 3) int64, each row in time order.

    onset and offset are 0-based indices into the clip, both included.

    Row 0 is P0 = (onset, middle, offset) with middle = (onset + offset) // 2, i.e. for an even
    number of frames the earlier of the two middle frames.

    Rows 1..3 are P1..P3. Frame i is taken to occupy the interval [i, i + 1), so the expression
    spans the real interval [onset, offset + 1). It is cut into 3 equal segments S1..S3 and each
    segment into 3 equal sub-segments (9 in all, exact real boundaries), and one frame is drawn
    per sub-segment. Snippet P_i takes the three sub-segments OF SEGMENT S_i (SMA-STN Fig. 2,
    "samples three frames from each segment to generate three snippets"; Eq. 7 weights "the
    dynamic image related to the i-th segment"), so each snippet is local to one third of the
    expression and the segment attention and the DE-Loss compare the three thirds. With rng
    None the frame under each sub-segment's centre is taken (evaluation); otherwise a point is
    drawn uniformly inside each sub-segment (training augmentation). Clips shorter than 9
    frames repeat frames.
    Example: dssi_indices(0, 17) = [[0, 8, 17], [1, 3, 5], [7, 9, 11], [13, 15, 17]].
    """
    if onset < 0 or offset < onset:
        raise ValueError(f"need 0 <= onset <= offset, got onset={onset}, offset={offset}")
    if rng is None:
        # Centres onset + (i + 1/2) L / 9, written so that a centre falling on a frame boundary
        # is exact (it then takes the later frame).
        length = offset - onset + 1
        points = onset + (2 * np.arange(9) + 1) * length / 18  # (9,)
    else:
        edges = np.linspace(onset, offset + 1, 10)  # (10,) boundaries of the 9 sub-segments
        points = rng.uniform(edges[:-1], edges[1:])  # (9,)
    picks = np.clip(np.floor(points).astype(np.int64), onset, offset)  # (9,) segment-major
    snippets = picks.reshape(3, 3)  # (3, 3): row i = the three sub-segments of segment S_i
    p0 = np.array([[onset, (onset + offset) // 2, offset]], dtype=np.int64)  # (1, 3)
    return np.concatenate([p0, snippets], axis=0)  # (4, 3)


def dssi(frames: np.ndarray, onset: int, offset: int,
         rng: np.random.Generator | None = None) -> np.ndarray:
    """The four DSSI dynamic images of a clip as uint8, (4, H, W) or (4, H, W, C).

    frames: (T, H, W) or (T, H, W, C); onset and offset as in `dssi_indices`.
    """
    frames = np.asarray(frames)
    if offset >= len(frames):
        raise ValueError(f"offset {offset} is past the clip's last frame {len(frames) - 1}")
    return snippet_images(frames, dssi_indices(onset, offset, rng))


def snippet_images(frames: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """One uint8 dynamic image per row of `indices` (S, 3): (S, H, W[, C]). Lets a caller keep
    the drawn indices beside the images."""
    return np.stack([to_uint8(dynamic_image(frames[row])) for row in indices])

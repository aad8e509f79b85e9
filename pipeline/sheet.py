"""Contact sheets: what preprocessing did to chosen clips, as one PNG to look at.

    python -m pipeline.sheet casme2/sub01/EP02_01f samm/006/006_1_2 --out sheets/preprocess.png
    python -m pipeline.sheet --first 2            # first clips of 2 subjects per database
    python -m pipeline.sheet --apex --first 1     # onset, apex, their difference (raw frames)
    python -m pipeline.sheet --attention --first 1 --out docs/attention.png
                                                  # what each network attends to

The --attention picture (pipeline/attention.py) draws, per clip, where the face moved and the
attention of SMA-STN (segment weights, non-local maps), Micro-Attention (each stage's map),
STANet (spatial masks, temporal weights) and FR (one map per class) over the aligned face,
with each network's predicted class; networks come from data/models/<network>.pt (`--random`,
or a missing file: untrained ones from params.yaml, and the picture says so). STRCN has no
attention and is not drawn.

One row per clip: raw onset and apex frames, the aligned onset with its landmarks, the magnified
apex, the onset->apex flow (colour: direction, brightness: magnitude) and its strain, the clip's
difference energy with its top-30 % pixels outlined (the per-fold mask uses the training
subjects' sum of these), and the four DSSI dynamic images. Reads the index and the shards only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from pipeline.energy import top_p_mask
from pipeline.opticalflow import flow_to_rgb
from pipeline.samples import SAMPLES, clip_rows, read_samples
from pipeline.shards import ShardSet
from pipeline.stage import SHARDS, read_frames

TILE = 120          # tile height in px; widths follow each image's aspect
COLUMNS = ["raw onset", "raw apex", "aligned", "magnified", "flow", "strain", "energy, mask",
           "DI 0", "DI 1", "DI 2", "DI 3"]


def fit(image: np.ndarray, height: int = TILE, width: int = 100) -> np.ndarray:
    """Any image (grey, RGB, float) -> (height, width, 3) uint8, aspect kept, padded black."""
    if image.dtype != np.uint8:
        lo, hi = float(image.min()), float(image.max())
        image = np.zeros(image.shape, np.uint8) if hi <= lo else \
            np.rint(255 * (image - lo) / (hi - lo)).astype(np.uint8)
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    scale = min(height / image.shape[0], width / image.shape[1])
    resized = cv2.resize(image, (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))),
                         interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_NEAREST)
    tile = np.zeros((height, width, 3), np.uint8)
    y, x = (height - resized.shape[0]) // 2, (width - resized.shape[1]) // 2
    tile[y:y + resized.shape[0], x:x + resized.shape[1]] = resized
    return tile


def with_landmarks(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The aligned frame as a tile, its 68 landmarks drawn at the tile's scale."""
    tile = fit(image)
    scale = min(TILE / image.shape[0], 100 / image.shape[1])
    x0 = (100 - round(image.shape[1] * scale)) // 2
    y0 = (TILE - round(image.shape[0] * scale)) // 2
    for x, y in landmarks:
        cv2.circle(tile, (int(round(x0 + x * scale)), int(round(y0 + y * scale))), 1, (0, 255, 0), -1)
    return tile


def energy_with_mask(energy: np.ndarray, p: float = 0.3) -> np.ndarray:
    """Energy as a heat map with the outline of its top-p pixels."""
    heat = cv2.applyColorMap(fit(energy, energy.shape[0], energy.shape[1])[..., 0], cv2.COLORMAP_INFERNO)
    heat = cv2.cvtColor(heat, cv2.COLOR_BGR2RGB)
    heat = cv2.resize(heat, None, fx=3, fy=3, interpolation=cv2.INTER_NEAREST)
    mask = cv2.resize(top_p_mask([energy], p).astype(np.uint8), heat.shape[1::-1],
                      interpolation=cv2.INTER_NEAREST)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(heat, contours, -1, (0, 255, 255), 1)
    return heat


def clip_tiles(row, shards: dict[str, ShardSet]) -> list[np.ndarray]:
    """The eleven tiles of one clip, in COLUMNS order."""
    sid = row.sample_id
    raw = read_frames(row)
    apex = int(shards["flow"].attrs(sid)["apex_fr"])
    aligned = shards["align"].read(sid, "frames", row.onset)
    test_key = shards["magnify"].attrs(sid)["test_alpha_key"]
    flow = shards["flow"].read(sid, "flow")
    dynamic = shards["dynamic"].read(sid, "eval")
    tiles = [raw[row.onset], raw[apex], with_landmarks(aligned, shards["align"].read(sid, "landmarks")),
             shards["magnify"].read(sid, test_key, apex), flow_to_rgb(flow),
             shards["flow"].read(sid, "strain"), energy_with_mask(shards["masks"].read(sid, "energy"))]
    return [fit(t) for t in tiles + list(dynamic)]


def header(width: int) -> np.ndarray:
    bar = np.full((22, width * len(COLUMNS), 3), 255, np.uint8)
    for i, name in enumerate(COLUMNS):
        cv2.putText(bar, name, (i * width + 3, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.33, (0, 0, 0), 1, cv2.LINE_AA)
    return bar


def label(row_image: np.ndarray, text: str) -> np.ndarray:
    bar = np.full((16, row_image.shape[1], 3), 235, np.uint8)
    cv2.putText(bar, text, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([bar, row_image])


def contact_sheet(sample_ids: list[str], out: Path, index_path: str | Path = SAMPLES,
                  shards_root: Path = SHARDS) -> Path:
    """Write the sheet of `sample_ids` to `out` (PNG) and return its path."""
    rows = {r.sample_id: r for r in clip_rows(read_samples(index_path))}
    shards = {stage: ShardSet.from_dir(shards_root / stage)
              for stage in ["align", "magnify", "flow", "masks", "dynamic"]}
    missing = [s for s in sample_ids if s not in rows or s not in shards["dynamic"]]
    if missing:
        raise SystemExit(f"sheet: {missing[0]} is not in the index or has no shards; "
                         "run `dvc repro` first or pick an id from data/index/samples.csv")
    lines = [header(100)]
    for sid in sample_ids:
        row = rows[sid]
        lines.append(label(np.hstack(clip_tiles(row, shards)),
                           f"{sid}  {row.labels.get('emotion')}  apex "
                           f"{shards['flow'].attrs(sid)['apex_source_fr']}"))
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), cv2.cvtColor(np.vstack(lines), cv2.COLOR_RGB2BGR))
    return out


def apex_sheet(sample_ids: list[str], out: Path, index_path: str | Path = SAMPLES,
               tile: int = 200) -> Path:
    """What a clip's expression looks like: for each clip its onset and apex frames as the
    database stores them and their difference (x4, grey 128 = no change), at `tile` px high.
    Reads the frames only (no shards), so it works right after the index."""
    rows = {r.sample_id: r for r in clip_rows(read_samples(index_path))}
    missing = [s for s in sample_ids if s not in rows]
    if missing:
        raise SystemExit(f"sheet: {missing[0]} is not in the index; pick an id from "
                         "data/index/samples.csv")
    clips = []
    for sid in sample_ids:
        row = rows[sid]
        frames = read_frames(row)
        apex = row.apex if row.apex is not None else (row.onset + row.offset) // 2
        onset, peak = frames[row.onset].astype(np.float32), frames[apex].astype(np.float32)
        change = np.clip(128 + 4 * (peak - onset), 0, 255).astype(np.uint8)
        clips.append((row, (frames[row.onset], frames[apex], change)))
    # one tile width for all rows: the widest clip's (databases differ in aspect ratio)
    width = max(round(tile * images[0].shape[1] / images[0].shape[0]) for _, images in clips)
    lines = []
    for row, images in clips:
        aus = row.labels.get("action_units")
        text = f"{row.sample_id}  {row.labels.get('emotion')}" + (f"  AUs {aus}" if aus else "")
        lines.append(label(np.hstack([fit(image, tile, width) for image in images]), text))
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), cv2.cvtColor(np.vstack(lines), cv2.COLOR_RGB2BGR))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sample_ids", nargs="*", help="clip ids as in data/index/samples.csv")
    parser.add_argument("--first", type=int, default=0,
                        help="also take the first clip of the first N subjects of each database")
    parser.add_argument("--apex", action="store_true",
                        help="onset, apex and their difference per clip (no shards needed)")
    parser.add_argument("--attention", action="store_true",
                        help="what each network attends to, over the aligned face")
    parser.add_argument("--networks", nargs="+", metavar="NAME",
                        help="with --attention: the networks to show (default: sma_stn "
                             "micro_attention stanet fr; STRCN has no attention)")
    parser.add_argument("--random", action="store_true",
                        help="with --attention: untrained networks from params.yaml instead of "
                             "data/models/<network>.pt")
    parser.add_argument("--out", type=Path,
                        help="the PNG (default: sheets/preprocess.png, sheets/attention.png with "
                             "--attention)")
    args = parser.parse_args()
    if (args.networks or args.random) and not args.attention:
        parser.error("--networks and --random go with --attention")
    ids = list(args.sample_ids)
    if args.first:
        table = read_samples().sort_values("sample_id").groupby("subject_id").head(1)
        firsts = table.groupby("database").head(args.first)["sample_id"]
        ids += [s for s in firsts if s not in ids]
    if not ids:
        parser.error("name at least one clip id or use --first N")
    if args.attention:
        from pipeline.attention import attention_sheet      # torch and the networks: only here
        print(attention_sheet(ids, args.out or Path("sheets/attention.png"), args.networks,
                              args.random))
    else:
        out = args.out or Path("sheets/preprocess.png")
        print(apex_sheet(ids, out) if args.apex else contact_sheet(ids, out))


if __name__ == "__main__":
    main()

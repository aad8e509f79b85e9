"""`python -m pipeline.predict PATH`: what the trained networks say about a new recording.

    python -m pipeline.predict take1.mp4                       # every model in data/models
    python -m pipeline.predict frames/ --networks fr,stanet --onset 12 --apex 30 --offset 52

PATH is a video file (whatever OpenCV's FFmpeg reads) or a folder of frames (images, in
natural order: 2.png before 10.png). Frame numbers are 1-based, as in videos.csv. Without
`--onset` / `--offset` the clip is the whole recording; without `--apex` every network's apex
is spotted by its own `flow.apex` rule, as for a database that annotates none (SMIC).

A model file (data/models/<network>.pt, pipeline/artifacts.py) records the preprocessing
sections its training data went through, and a network only means something on inputs prepared
the same way. So the clip goes through the very stage code of the pipeline (`align_one`,
`magnify_one`, `flow_one`, `masks_one`, `dynamic_one`, run by `run_stage` on a one-clip sample
table and shards in a temporary folder), with the MODEL's sections; where they differ from
params.yaml, one line per model says which keys, and the model's win. Models recorded with
different preprocessing each get their own run. The network's input view is then built as in
training, restored with the statistics it fitted on the training samples (FR's flow scale,
STRCN-A's mask: `Inputs.restore`), and read in evaluation mode.

Writes `<stem>.predict.json` (the clip's frames, per network its classes, probabilities,
prediction, model file and preprocessing differences) and `<stem>.predict.png` (key frames,
the aligned apex, the onset->apex flow, the dynamic images, each network's probabilities) next
to PATH or into `--out`, and prints one row per network. Every error is one line and a
non-zero exit.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np
import pandas as pd
import torch

import models
from pipeline import datasets
from pipeline.align import TRACKED, AlignParams, align_one, spans
from pipeline.artifacts import (MODELS, PREPROCESSING, TrainedModel, load_model, model_path,
                                preprocessing_changes)
from pipeline.dynamic import DynamicParams, dynamic_one
from pipeline.face import FaceError, detect_landmarks
from pipeline.flow import FlowParams, flow_one
from pipeline.magnify import MagnifyParams, magnify_one
from pipeline.masks import MasksParams, masks_one
from pipeline.params import ParamsError, parse, read_params
from pipeline.parallel import StageError, StageReport
from pipeline.samples import COLUMNS, frames_digest
from pipeline.shards import ShardSet
from pipeline.stage import run_stage
from pipeline.video import VideoError, frame_name, open_video, png_bytes

IMAGES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm", ".pgm", ".webp")
SAMPLE = "predict/new/clip"          # the one clip's sample id: database predict, subject new


@dataclass(frozen=True)
class Stage:
    """How dvc.yaml runs one preprocessing stage: its clip function, params schema, the stage
    whose shards say which clips to process, the others it reads, its per-frame arrays."""

    process: Callable[..., dict[str, np.ndarray]]
    schema: type
    needs: str | None
    reads: tuple[str, ...]
    per_frame: tuple[str, ...] = ()


# The stages' own `main`s, as data (pipeline/<stage>.py); in dependency order (PREPROCESSING).
STAGES: dict[str, Stage] = {
    "align": Stage(align_one, AlignParams, None, ()),
    "magnify": Stage(magnify_one, MagnifyParams, "align", ("align",)),
    "flow": Stage(flow_one, FlowParams, "magnify", ("align", "magnify"), ("stanet", "strcn_g")),
    "masks": Stage(masks_one, MasksParams, "magnify", ("magnify",), ("clips",)),
    "dynamic": Stage(dynamic_one, DynamicParams, "align", ("align",)),
}
PICTURED = ("flow", "dynamic")       # what the picture shows besides the aligned frames


class PredictError(Exception):
    """The recording or the models cannot be used. One line saying what to do."""


@dataclass(frozen=True)
class Recording:
    """The clip of a recording: its frames onset..offset and where it lies in the recording."""

    path: Path
    frames: np.ndarray          # (T, H, W, 3) uint8 RGB, recording frames onset..offset
    first: int                  # the recording's 1-based number of frames[0] (the onset)
    apex: int | None            # given apex, 1-based, or None: spotted per network
    total: int                  # frames decoded: all, or up to the offset when one is given
    fps: float                  # the video's; NaN for a folder of frames

    @property
    def last(self) -> int:
        return self.first + len(self.frames) - 1


@dataclass
class Prediction:
    """One network's answer."""

    network: str
    classes: tuple[str, ...]
    probabilities: np.ndarray   # (K,) float, in the order of `classes`
    model: Path
    changes: list[str]          # preprocessing keys where the model and params.yaml differ
    apex: int | None = None     # the 1-based apex frame its input read, where it reads one
    apex_source: str | None = None

    @property
    def prediction(self) -> str:
        return self.classes[int(np.argmax(self.probabilities))]


@dataclass
class Preprocessed:
    """One run of the stages on the clip: where its shards are and what they hold."""

    root: Path
    sections: dict[str, dict]
    stages: tuple[str, ...]
    networks: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- reading PATH

def natural_key(name: str) -> list:
    """'frame10.png' after 'frame9.png': digit runs compare as numbers."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def recording_frames(path: Path):
    """(1-based number, RGB frame (H, W, 3) uint8) of every frame of a video or an image
    folder, in order, and the frame rate (NaN for a folder); decoding stops when the caller
    stops asking, so an offset early in a long video decodes no further."""
    if path.is_dir():
        names = sorted((p.name for p in path.iterdir() if p.suffix.lower() in IMAGES),
                       key=natural_key)
        if not names:
            raise PredictError(f"{path} holds no images ({', '.join(IMAGES)})")

        def images():
            for number, name in enumerate(names, 1):
                image = cv2.imread(str(path / name), cv2.IMREAD_COLOR)
                if image is None:
                    raise PredictError(f"{path / name}: OpenCV cannot decode this image")
                yield number, cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        return images(), math.nan
    capture, info = open_video(path)

    def video():
        try:
            number = 0
            while True:
                ok, frame = capture.read()
                if not ok:
                    if number == 0:
                        raise PredictError(f"{path}: OpenCV opened it but decoded no frame; "
                                           "re-encode it as mp4 (H.264 or MPEG-4)")
                    return
                number += 1
                yield number, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        finally:
            capture.release()
    return video(), info.fps


def read_recording(path: Path, onset: int | None, apex: int | None,
                   offset: int | None) -> Recording:
    """The clip onset..offset (1-based; the first and last frame when not given) of PATH."""
    for name, value in (("onset", onset), ("apex", apex), ("offset", offset)):
        if value is not None and value < 1:
            raise PredictError(f"--{name} {value}: frame numbers start at 1")
    first = onset or 1
    if offset is not None and offset <= first:
        raise PredictError(f"--offset {offset} must come after the onset {first}")
    frames, fps = recording_frames(path)
    kept, total, size = [], 0, None
    for number, frame in frames:
        total = number
        if size is None:
            size = frame.shape
        elif frame.shape != size:
            raise PredictError(f"{path}: frame {number} is {frame.shape[1]}x{frame.shape[0]}, "
                               f"frame 1 {size[1]}x{size[0]}; every frame must have one size")
        if number >= first:
            kept.append(frame)
        if offset is not None and number == offset:
            break
    if offset is not None and total < offset:
        raise PredictError(f"--offset {offset}: {path} has only {total} frames")
    if len(kept) < 2:
        raise PredictError(f"{path}: the clip from frame {first} holds {len(kept)} of the "
                           f"recording's {total} frames; a clip needs at least 2")
    last = first + len(kept) - 1
    if apex is not None and not first < apex <= last:
        raise PredictError(f"--apex {apex} must lie after the onset {first} and at most at the "
                           f"offset {last}")
    return Recording(path, np.stack(kept), first, apex, total, fps)           # (T, H, W, 3)


def check_face(clip: Recording) -> None:
    """The onset frame must show a face dlib finds, as `align` needs; said before any stage
    runs, with the recording's frame number."""
    try:
        detect_landmarks(clip.frames[0])
    except FaceError as error:
        h, w = clip.frames.shape[1:3]
        raise PredictError(f"no face found in frame {clip.first} of {clip.path}: dlib's HOG "
                           f"face detector finds none in the {w}x{h} onset frame (upsampled 0 "
                           "and 1 times); the face must be frontal, lit and at least ~40 px "
                           f"wide (--onset picks another frame)") from error


def clip_row(clip: Recording, folder: Path, sample_id: str = SAMPLE) -> dict[str, Any]:
    """The clip as a sample table row (pipeline/samples.py), its frames written as PNG files
    into `folder` as the index stage writes a video's clips (pipeline/video.py says why)."""
    folder.mkdir(parents=True)
    numbers = list(range(clip.first, clip.last + 1))
    names = [frame_name(n) for n in numbers]
    for name, frame in zip(names, clip.frames):
        (folder / name).write_bytes(png_bytes(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)))
    database, subject, name = sample_id.split("/")
    return {"sample_id": sample_id, "database": database, "subject": subject,
            "subject_id": f"{database}/{subject}", "clip": name, "frame_dir": str(folder),
            "frames": " ".join(names), "frame_numbers": " ".join(map(str, numbers)),
            "frames_sha256": frames_digest(folder, names), "first_frame": clip.first,
            "last_frame": clip.last, "n_frames": len(names), "onset": clip.first,
            "apex": clip.apex, "offset": clip.last, "fps": clip.fps, "emotion": None,
            "action_units": None, "objective_class": None, "source": str(clip.path),
            "row": None, "repairs": None}


def write_table(rows: list[dict[str, Any]], path: Path) -> Path:
    """A sample table of `clip_row`s: what every preprocessing stage reads."""
    pd.DataFrame(rows, columns=COLUMNS).to_csv(path, index=False)
    return path


# --------------------------------------------------------------------------- preprocessing

def closure(stages: set[str]) -> tuple[str, ...]:
    """`stages` and every stage they read, in the order they run."""
    wanted = set(stages)
    for stage in reversed(PREPROCESSING):
        if stage in wanted:
            wanted.update(STAGES[stage].reads)
    return tuple(s for s in PREPROCESSING if s in wanted)


def preprocess(index: Path, sections: dict[str, dict], root: Path, stages: tuple[str, ...],
               jobs: int = 1) -> dict[str, StageReport]:
    """Run `stages` (in order) over the sample table `index` with the given params sections,
    writing root/shards/<stage>/ and root/reports/: exactly what `dvc repro` runs, elsewhere.
    A clip that fails is listed in its report, as in the pipeline; the caller decides."""
    reports = {}
    for name in stages:
        stage = STAGES[name]
        params = parse(stage.schema, sections[name], name)
        reports[name] = run_stage(name, stage.process, params, jobs=jobs, max_failed=1.0,
                                  needs=stage.needs, per_frame=stage.per_frame,
                                  index_path=index, shards_root=root / "shards",
                                  reports=root / "reports")
    return reports


def model_sections(model: TrainedModel, params: dict) -> dict[str, dict]:
    """The preprocessing sections a model's inputs were made with; params.yaml's for a stage
    the model does not record (preprocessing_changes says so)."""
    sections = {}
    for stage in PREPROCESSING:
        found = model.preprocessing.get(stage, params.get(stage))
        if found is None:
            raise PredictError(f"{model.network}: neither the model nor params.yaml has a "
                               f"{stage} section")
        sections[stage] = found
    return sections


# --------------------------------------------------------------------------- networks

def chosen_networks(names: str | None, folder: Path) -> list[str]:
    """--networks a,b checked against the networks with a train stage, or every network with a
    model file in `folder`."""
    known = models.pipeline_networks()
    if names is None:
        found = [n for n in known if model_path(n, folder).is_file()]
        if not found:
            raise PredictError(f"no trained models in {folder} (want {known[0]}.pt, ...); run "
                               "`dvc repro` (each train@<network> stage writes "
                               "data/models/<network>.pt)")
        return found
    chosen = [n.strip() for n in names.split(",") if n.strip()]
    for name in chosen:
        if name not in known:
            raise PredictError(f"--networks: unknown network {name!r}; networks: "
                               f"{', '.join(known)}")
        if not model_path(name, folder).is_file():
            raise PredictError(f"--networks: no trained model {model_path(name, folder)}; run "
                               f"`dvc repro train@{name}`")
    if not chosen:
        raise PredictError("--networks: name at least one network")
    return chosen


def probabilities(model: TrainedModel, shards_root: Path) -> np.ndarray:
    """(K,) class probabilities of the clip: the model's input view on these shards, restored
    with the statistics it fitted in training, in evaluation mode (no augmentation)."""
    view = datasets.view(model.inputs["view"])
    inputs = view(**model.inputs["arguments"], shards_root=shards_root)
    inputs.load([SAMPLE])
    inputs.restore(model.inputs.get("fitted") or {})
    x = inputs.batch([SAMPLE], False, np.random.default_rng(0))             # (1, ...)
    with torch.no_grad():
        logits = model.module(x.to(next(model.module.parameters()).device)).logits
    return torch.softmax(logits.float(), dim=1)[0].cpu().numpy()            # (K,)


def attrs_of(shards_root: Path, stage: str) -> dict[str, Any]:
    """The clip's attributes in one stage's shards."""
    shards = ShardSet.from_dir(shards_root / stage)
    attrs = shards.attrs(SAMPLE)
    shards.close()
    return attrs


def apex_of(network: str, flow: dict[str, Any], clip: Recording) -> tuple[int | None, str | None]:
    """The 1-based apex the network's input read and where it came from (the flow stage's
    attributes `flow`), for the networks that read one."""
    if f"apex_{network}" not in flow:
        return None, None
    return clip.first + int(flow[f"apex_{network}"]), str(flow[f"apex_source_{network}"])


# --------------------------------------------------------------------------- output

def table(predictions: list[Prediction]) -> str:
    """One row per network: its prediction, then every class with its probability, the
    predicted one marked with *."""
    width = max(len("network"), *(len(p.network) for p in predictions))
    guess = max(len("prediction"), *(len(p.prediction) for p in predictions))
    lines = [f"{'network':<{width}}  {'prediction':<{guess}}  probabilities"]
    for p in predictions:
        cells = [f"{'*' if c == p.prediction else ' '}{c} {v:.3f}"
                 for c, v in zip(p.classes, p.probabilities)]
        lines.append(f"{p.network:<{width}}  {p.prediction:<{guess}}  " + "  ".join(cells))
    return "\n".join(lines)


def flow_colour(flow: np.ndarray) -> tuple[np.ndarray, float]:
    """(H, W, 2) flow -> (H, W, 3) uint8 RGB, hue = direction, brightness = magnitude scaled to
    its 99th percentile; and that percentile (px)."""
    u, v = flow[..., 0], flow[..., 1]
    magnitude, angle = cv2.cartToPolar(u.astype(np.float32), v.astype(np.float32))
    top = float(np.percentile(magnitude, 99)) or 1.0
    hsv = np.zeros((*flow.shape[:2], 3), np.uint8)
    hsv[..., 0] = (angle * 90 / np.pi).astype(np.uint8)                     # OpenCV hue 0..180
    hsv[..., 1] = 255
    hsv[..., 2] = np.clip(magnitude / top * 255, 0, 255).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB), top


def picture(path: Path, clip: Recording, apex: int, shards_root: Path,
            predictions: list[Prediction]) -> Path:
    """Key frames, the aligned apex, the flow, the dynamic images and each network's bars."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    aligned = ShardSet.from_dir(shards_root / "align")
    flow = ShardSet.from_dir(shards_root / "flow")
    dynamic = ShardSet.from_dir(shards_root / "dynamic")
    colour, top = flow_colour(flow.read(SAMPLE, "flow"))                    # (h, w, 3)
    images = dynamic.read(SAMPLE, "eval")                                   # (4, h, w, 3)
    fr_apex = clip.first + int(flow.attrs(SAMPLE).get("apex_fr", apex - clip.first))
    figure = plt.figure(figsize=(13, 9.5), layout="constrained")
    top_row, middle, bottom = figure.subfigures(3, 1, height_ratios=[1.1, 1, 1])
    shown = [(clip.frames[0], f"onset, frame {clip.first}"),
             (clip.frames[apex - clip.first], f"apex, frame {apex}"),
             (clip.frames[-1], f"offset, frame {clip.last}"),
             (aligned.read(SAMPLE, "frames", apex - clip.first), "aligned apex"),
             (colour, f"flow {clip.first}->{fr_apex} (max {top:.2f} px)")]
    for axis, (image, title) in zip(top_row.subplots(1, len(shown)), shown):
        axis.imshow(image)
        axis.set_title(title, fontsize=9)
        axis.axis("off")
    for i, axis in enumerate(middle.subplots(1, len(images))):
        axis.imshow(images[i])
        axis.set_title(f"dynamic image P{i}", fontsize=9)
        axis.axis("off")
    axes = np.atleast_1d(bottom.subplots(1, len(predictions), sharey=True))
    for axis, p in zip(axes, predictions):
        colours = ["tab:orange" if c == p.prediction else "tab:blue" for c in p.classes]
        bars = axis.bar(range(len(p.classes)), p.probabilities, color=colours)
        axis.bar_label(bars, fmt="%.2f", fontsize=8)
        axis.set_xticks(range(len(p.classes)), p.classes, rotation=30, fontsize=8)
        axis.set_ylim(0, 1.15)                      # room for the labels over the bars
        axis.set_title(f"{p.network}: {p.prediction}", fontsize=9)
    axes[0].set_ylabel("probability")
    figure.suptitle(f"{clip.path.name}: frames {clip.first}-{clip.last}", fontsize=11)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    for shards in (aligned, flow, dynamic):
        shards.close()
    return path


def outputs(path: Path, out: str | None) -> tuple[Path, Path]:
    """<stem>.predict.json and .png, next to PATH (a folder's: beside the folder) or in `out`."""
    folder = Path(out) if out is not None else path.resolve().parent
    folder.mkdir(parents=True, exist_ok=True)
    stem = path.resolve().name if path.is_dir() else path.stem
    return folder / f"{stem}.predict.json", folder / f"{stem}.predict.png"


# --------------------------------------------------------------------------- the command

def load_models(names: list[str], folder: Path) -> dict[str, TrainedModel]:
    """The networks' model files, loaded for inference."""
    loaded = {}
    for name in names:
        try:
            loaded[name] = load_model(model_path(name, folder))
        except (OSError, RuntimeError, ValueError, KeyError) as error:
            raise PredictError(f"{model_path(name, folder)}: cannot load it "
                               f"({' '.join(str(error).split())}); run `dvc repro "
                               f"train@{name}` again") from None
    return loaded


def plan(loaded: dict[str, TrainedModel], params: dict, work: Path,
         folder: Path) -> list[Preprocessed]:
    """One run of the stages per distinct set of recorded preprocessing sections, with the
    stages its networks' views read (and those the picture shows); every section is checked
    against its stage before anything runs."""
    runs: dict[str, Preprocessed] = {}
    for name, model in loaded.items():
        sections = model_sections(model, params)
        for stage in PREPROCESSING:
            try:
                parse(STAGES[stage].schema, sections[stage], stage)
            except ParamsError as error:
                raise PredictError(f"{model_path(name, folder)}: its {stage} section no longer "
                                   f"fits the stage ({error}); re-train it with `dvc repro`"
                                   ) from None
        key = json.dumps(sections, sort_keys=True, default=str)
        if key not in runs:
            runs[key] = Preprocessed(work / f"run{len(runs)}", sections, ())
        runs[key].networks.append(name)
    for run in runs.values():
        wanted = {s for n in run.networks for s in datasets.view(loaded[n].inputs["view"]).stages}
        run.stages = closure(wanted | set(PICTURED))
    return list(runs.values())


def predict(path: Path, networks: str | None = None, onset: int | None = None,
            apex: int | None = None, offset: int | None = None, folder: Path = MODELS,
            params_path: Path = Path("params.yaml"), out: str | None = None) -> dict[str, Any]:
    """Everything `python -m pipeline.predict` does; returns what it writes to the JSON file."""
    path, folder = Path(path), Path(folder)
    if not path.exists():
        raise PredictError(f"{path} does not exist")
    params = read_params(params_path)
    loaded = load_models(chosen_networks(networks, folder), folder)
    changes = {name: preprocessing_changes(model, params) for name, model in loaded.items()}
    for name, found in changes.items():
        if found:
            print(f"predict: {name}: preprocessing as the model was trained, not as "
                  f"{params_path} says: {'; '.join(found)}", file=sys.stderr)
    clip = read_recording(path, onset, apex, offset)
    check_face(clip)
    json_path, png_path = outputs(path, out)

    with tempfile.TemporaryDirectory(prefix="glimpse-predict-") as temporary:
        work = Path(temporary)
        index = write_table([clip_row(clip, work / "frames")], work / "samples.csv")
        runs = plan(loaded, params, work, folder)
        predictions = []
        for run in runs:
            for stage, report in preprocess(index, run.sections, run.root, run.stages).items():
                if report.failed:
                    raise PredictError(f"{path}: {stage}: {report.failed[0].reason}")
            flow = attrs_of(run.root / "shards", "flow")
            for name in run.networks:
                predictions.append(Prediction(
                    name, loaded[name].classes, probabilities(loaded[name], run.root / "shards"),
                    model_path(name, folder), changes[name], *apex_of(name, flow, clip)))
        shards_root = runs[0].root / "shards"
        flow, face = attrs_of(shards_root, "flow"), attrs_of(shards_root, "align")
        shown = apex or clip.first + int(flow["apex_fr"])
        picture(png_path, clip, shown, shards_root, predictions)
        datasets.shards.cache_clear()              # its ShardSets point into this folder

    tracking = {kind: [int(n) for n in face[f"face_{kind}"]] for kind in TRACKED}
    for kind, numbers in tracking.items():
        if numbers:
            print(f"predict: face {kind} in frames {spans(numbers)} (align.max_lost_frames "
                  "allows it; the clip was kept)", file=sys.stderr)
    result = {
        "path": str(path), "frames_read": clip.total,
        "fps": None if math.isnan(clip.fps) else clip.fps,
        "onset": clip.first, "offset": clip.last, "apex": shown,
        "apex_source": ("given" if apex is not None      # each network's own apex: below
                        else f"{flow['apex_source_fr']} (flow.apex.fr, as FR reads it)"),
        "face": {"detector_score": float(face["detector_score"]), **tracking},
        "networks": {p.network: {"classes": list(p.classes),
                                 "probabilities": [round(float(v), 6) for v in p.probabilities],
                                 "prediction": p.prediction, "model": str(p.model),
                                 "scheme": loaded[p.network].scheme,
                                 "apex": p.apex, "apex_source": p.apex_source,
                                 "preprocessing_changes": p.changes}
                     for p in predictions},
        "picture": str(png_path),
    }
    json_path.write_text(json.dumps(result, indent=2) + "\n")
    print(table(predictions))
    print(f"predict: wrote {json_path} and {png_path}")
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """The command line; a problem ends it with one line on stderr and exit status 1."""
    parser = argparse.ArgumentParser(prog="python -m pipeline.predict",
                                     description="What the trained networks say about a clip.")
    parser.add_argument("path", type=Path, help="a video file or a folder of frames")
    parser.add_argument("--onset", type=int, help="1-based frame number (default: the first)")
    parser.add_argument("--apex", type=int, help="1-based frame number (default: spotted)")
    parser.add_argument("--offset", type=int, help="1-based frame number (default: the last)")
    parser.add_argument("--networks", help="a,b (default: every model in --models)")
    parser.add_argument("--models", type=Path, default=MODELS, help="folder of <network>.pt")
    parser.add_argument("--out", help="folder for the JSON and PNG (default: next to PATH)")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"),
                        help="params.yaml to compare the models' preprocessing with")
    args = parser.parse_args(argv)
    try:
        return predict(args.path, args.networks, args.onset, args.apex, args.offset,
                       args.models, args.params, args.out)
    except (PredictError, ParamsError, VideoError, StageError) as error:
        sys.exit(f"predict: {' '.join(str(error).split())}")


if __name__ == "__main__":
    main()

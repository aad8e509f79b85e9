"""`python -m pipeline.predict` on recordings no model has seen: a synthetic mp4 of a known
emotion, rendered on an identity outside the training set, must come out as its class from an
FR trained here on clips preprocessed by the same stage code; a video without a face, a missing
path, no models and an unknown network each end with one line; a model recorded with other
preprocessing than params.yaml is said so and used as it was trained."""

from __future__ import annotations

import copy
import importlib
import inspect
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml

import models
from pipeline import predict, train
from pipeline.artifacts import preprocessing_of, save_model
from pipeline.datasets import FlowField
from pipeline.params import Adam, section
from pipeline.shards import ShardSet
from pipeline.synthetic.faces import make_identity
from pipeline.synthetic.motion import render_clip, sample_aus
from pipeline.training import fit
from tests.conftest import REPO, shrink_preprocessing, shrink_training

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# MEGC 2019's three classes, each rendered from a CASME II emotion's action units.
EMOTION = {"negative": "disgust", "positive": "happiness", "surprise": "surprise"}
CLASSES = tuple(EMOTION)
SIZE = (170, 140)              # frame H, W: the synthetic databases' size
FRAMES = 14
AMPLITUDE = 4.0                # px at the apex: a clear expression
TRAIN_IDENTITIES = (101, 102, 103, 104)
NEW_IDENTITY = 999             # the recording's subject: in no training clip


def render(identity: int, emotion: str, seed: int) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB: one clip of `emotion`, onset at frame 0, apex in the middle."""
    rng = np.random.default_rng(seed)
    face = make_identity(identity, SIZE)
    frames, _ = render_clip(face, sample_aus(emotion, rng), FRAMES, 0, FRAMES // 2, FRAMES - 1,
                            AMPLITUDE, rng, shading=0.3)
    return frames


def write_video(path: Path, frames: np.ndarray, fps: float = 30.0) -> Path:
    """frames (T, H, W, 3) RGB as an MPEG-4 mp4, as a camera's recording would come."""
    h, w = frames.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    assert writer.isOpened()
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def small_params() -> dict:
    """The repository's params with the preprocessing cut to seconds."""
    params = copy.deepcopy(yaml.safe_load((REPO / "params.yaml").read_text()))
    return shrink_preprocessing(params)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path, dict]:
    """(models folder, params.yaml, params): FR trained on 4 identities x 3 classes of clips
    that went through the real align, magnify, flow stages, saved as a model file."""
    work = tmp_path_factory.mktemp("predict")
    params = small_params()
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    rows, labels = [], {}
    for i, identity in enumerate(TRAIN_IDENTITIES):
        for label, emotion in EMOTION.items():
            frames = render(identity, emotion, seed=10 * identity + len(labels))
            clip = predict.Recording(work / "clips", frames, 1, FRAMES // 2 + 1, FRAMES, 30.0)
            sample_id = f"train/s{i}/{label}"
            rows.append(predict.clip_row(clip, work / "clips" / f"s{i}" / label, sample_id))
            labels[sample_id] = CLASSES.index(label)
    index = predict.write_table(rows, work / "samples.csv")
    sections = {stage: params[stage] for stage in predict.PREPROCESSING}
    reports = predict.preprocess(index, sections, work, ("align", "magnify", "flow"), jobs=2)
    assert all(not report.failed for report in reports.values())

    threads = torch.get_num_threads()
    torch.set_num_threads(1)                     # tiny convolutions: fastest on one thread
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    fr = params["baselines"]["fr"]
    net = {**fr["net"], "proposal_weight": fr["lambda"], "hidden": 128,
           "detector_hidden": 32}                           # a tenth of the weights: seconds
    module = models.create_model("fr", num_classes=len(CLASSES), **net)
    inputs = FlowField(shards_root=work / "shards")
    ids = sorted(labels)
    inputs.load(ids)
    inputs.fit(ids)
    y = torch.tensor([labels[s] for s in ids])

    def batches(epoch: int):
        order = rng.permutation(len(ids))
        for chosen in (order[:6], order[6:]):
            yield inputs.batch([ids[i] for i in chosen], True, rng), y[chosen]

    curve = fit(module, Adam("adam", 1e-3, 0.0, 1, 1.0), 40, batches, torch.device("cpu"))
    torch.set_num_threads(threads)
    assert curve[-1]["accuracy"] == 1.0
    folder = work / "models"
    save_model(folder / "fr.pt", "fr", module, CLASSES, "megc3", "cde", net, "FlowField", {},
               inputs.fitted(), fr, preprocessing_of(params), len(ids))
    return folder, work / "params.yaml", params


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    """A new subject's happiness clip as an mp4."""
    folder = tmp_path_factory.mktemp("recording")
    return write_video(folder / "take 1.mp4", render(NEW_IDENTITY, "happiness", seed=5))


def run(args: list[str], capsys) -> tuple[dict, str, str]:
    result = predict.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return result, out, err


def fails(args: list[str], capsys) -> str:
    """The one line a failing command ends with."""
    with pytest.raises(SystemExit) as stop:
        predict.main([str(a) for a in args])
    message = str(stop.value.code)
    assert stop.value.code not in (0, None) and "\n" not in message
    return message


def test_a_new_clip_gets_its_class(trained, recording, tmp_path, capsys):
    folder, params_path, _ = trained
    result, out, err = run([recording, "--models", folder, "--params", params_path,
                            "--out", tmp_path], capsys)
    fr = result["networks"]["fr"]
    assert fr["prediction"] == "positive", fr
    assert fr["classes"] == list(CLASSES) and abs(sum(fr["probabilities"]) - 1) < 1e-4
    assert fr["preprocessing_changes"] == [] and "preprocessing as the model" not in err
    assert (result["onset"], result["offset"], result["frames_read"]) == (1, FRAMES, FRAMES)
    assert 1 < fr["apex"] <= FRAMES and fr["apex_source"] == "spotted:motion"
    row = next(line for line in out.splitlines() if line.startswith("fr "))
    assert "*positive" in row and all(c in row for c in CLASSES)
    written = json.loads((tmp_path / "take 1.predict.json").read_text())
    assert written["networks"]["fr"]["probabilities"] == fr["probabilities"]
    picture = cv2.imread(str(tmp_path / "take 1.predict.png"))
    assert picture is not None and picture.shape[0] > 400


def test_the_models_preprocessing_is_used_and_named(trained, recording, tmp_path, capsys):
    """params.yaml with another TV-L1 tau: the warning names the key, and the frames (read
    here from a folder of the video's decoded frames) give the model's answer unchanged."""
    folder, _, params = trained
    changed = copy.deepcopy(params)
    changed["flow"]["tvl1"]["tau"] = 0.2
    params_path = tmp_path / "params.yaml"
    params_path.write_text(yaml.safe_dump(changed))
    frames = tmp_path / "take1_frames"
    frames.mkdir()
    capture = cv2.VideoCapture(str(recording))
    number = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        number += 1
        cv2.imwrite(str(frames / f"f{number}.png"), frame)        # f10.png after f9.png
    first, _, _ = run([recording, "--models", folder, "--params", params_path, "--out",
                       tmp_path / "video", "--networks", "fr"], capsys)
    second, _, err = run([frames, "--models", folder, "--params", params_path], capsys)
    warning = [line for line in err.splitlines() if "preprocessing as the model" in line]
    assert len(warning) == 1 and warning[0].startswith("predict: fr:")
    assert "flow.tvl1.tau: 0.25 (model) vs 0.2" in warning[0]
    assert second["networks"]["fr"]["preprocessing_changes"] == [
        "flow.tvl1.tau: 0.25 (model) vs 0.2 (params.yaml)"]
    assert second["networks"]["fr"]["probabilities"] == first["networks"]["fr"]["probabilities"]
    assert (tmp_path / "take1_frames.predict.json").is_file()       # next to the folder
    assert second["fps"] is None and first["fps"] == 30.0


def test_a_video_without_a_face(trained, tmp_path, capsys):
    folder, params_path, _ = trained
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (8, *SIZE, 3), dtype=np.uint8)
    video = write_video(tmp_path / "wall.mp4", noise)
    message = fails([video, "--models", folder, "--params", params_path], capsys)
    assert message.startswith(f"predict: no face found in frame 1 of {video}:")
    message = fails([video, "--models", folder, "--params", params_path, "--onset", "3"], capsys)
    assert "in frame 3 of" in message


def test_what_cannot_be_predicted(trained, recording, tmp_path, capsys):
    folder, params_path, _ = trained
    common = ["--params", params_path]
    assert fails([tmp_path / "nothing.mp4", "--models", folder, *common],
                 capsys).endswith("nothing.mp4 does not exist")
    (tmp_path / "empty").mkdir()
    assert "run `dvc repro`" in fails([recording, "--models", tmp_path / "empty", *common], capsys)
    assert "unknown network 'resnet'" in fails([recording, "--models", folder, "--networks",
                                                "fr,resnet", *common], capsys)
    assert "no trained model" in fails([recording, "--models", folder, "--networks", "stanet",
                                        *common], capsys)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    assert "OpenCV cannot open" in fails([broken, "--models", folder, *common], capsys)
    assert "--offset 40: " in fails([recording, "--models", folder, "--offset", "40", *common],
                                    capsys)


def test_every_network_answers(trained, recording, tmp_path, capsys):
    """An untrained model of every network, with its input view fitted on the training clips
    as train@<network> fits it: predict builds each view from the model file, restores its
    statistics (STRCN-A's mask, the flow scales) and reads the clip in one run of the stages."""
    folder, params_path, params = trained
    params = shrink_training(copy.deepcopy(params))
    params["baselines"]["micro_attention"]["net"]["checkpoint"] = None   # no pre-training here
    work = folder.parent
    sections = {stage: params[stage] for stage in predict.PREPROCESSING}
    predict.preprocess(work / "samples.csv", sections, work, ("masks", "dynamic"), jobs=2)
    ids = sorted(ShardSet.from_dir(work / "shards" / "flow").sample_ids)
    every = tmp_path / "models"
    names = models.pipeline_networks()
    for name in names:
        net = train.network(name, params)
        inputs = net.inputs(work / "shards", load=ids)
        inputs.fit(ids)
        save_model(every / f"{name}.pt", name, net.build(len(CLASSES)), CLASSES, "megc3", "cde",
                   net.net, net.card.inputs, net.input, inputs.fitted(),
                   section(params, net.card.section), preprocessing_of(params), len(ids))
    result, out, _ = run([recording, "--models", every, "--params", params_path, "--out",
                          tmp_path], capsys)
    assert sorted(result["networks"]) == sorted(names)
    for name, answer in result["networks"].items():
        assert answer["prediction"] in CLASSES and abs(sum(answer["probabilities"]) - 1) < 1e-4
        assert any(line.startswith(f"{name} ") for line in out.splitlines())
    assert result["networks"]["fr"]["apex"] == result["apex"]


def test_the_stages_run_as_dvc_runs_them():
    """predict's table of stages says what each stage's `main` passes to the runner."""
    for name, stage in predict.STAGES.items():
        source = inspect.getsource(importlib.import_module(f"pipeline.{name}").main)
        assert (f'needs="{stage.needs}"' in source) if stage.needs else "needs=" not in source
        written = str(stage.per_frame).replace("'", '"')
        assert (f"per_frame={written}" in source) if stage.per_frame else "per_frame" not in source

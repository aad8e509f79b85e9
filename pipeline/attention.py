"""What the networks attend to: their attention maps and weights, drawn over the aligned face.

    python -m pipeline.sheet --attention --first 1 --out docs/attention.png
    python -m pipeline.sheet --attention casme2/sub01/EP05f --networks fr stanet --random

Every network puts its attention in `ModelOutput.attention` (models/registry.py);
`attention_maps` turns that into pictures, per sample: a 2-D map over the face scaled to [0, 1],
or 1-D weights summing to 1.

    network          map                 from                                    one sample
    sma_stn          segments            alpha of the four dynamic images        (4,)
                     non-local I0..I3    how much each position is attended to:  (h, w), its
                                         the affinity's mean over the queries    layer-4 grid
    micro_attention  stage1..stage4      each block's attention map M            (H/4 .. H/32, ...)
                     features            the last block's output as the          (H/32, W/32)
                                         classifier pools it (channel mean of
                                         ReLU(BN(F))), the paper's Fig. 4
    stanet           spatial             the SAB mask, mean over the frames      (H/4, W/4)
                     spatial (top frame) the mask of the frame of largest weight (H/4, W/4)
                     temporal            the TAB weights w over the flows        (L,)
    fr               proposal <class>    the class's attention a_k, summed over  (s/4, s/4)
                                         channels and the u, v streams

STRCN (-A, -G) is left out: it has no attention (recurrent convolutions, a global average pool
and the classifier); STRCN-A's one spatial selection, its top-30 % energy mask, is fixed before
the network and is on the preprocessing sheet. A network whose switches remove its attention
(`stma: false`, `attention: none`, `sab` or `tab` off, `proposals` other than attention) simply
has fewer maps, or none.

Every map covers the whole aligned frame: each input view resizes the aligned frames (or their
flow) to a square without cropping (pipeline/datasets.py, pipeline/flow.py), so a map is drawn
by resizing it to the aligned frame. The maps are coarse (SMA-STN's non-local map is the layer-4
grid, 2 x 2 at the default 64 px input): they are drawn as blocks, and each tile says its native
size and the raw range its [0, 1] colours stand for.

Networks come from the trained model files (`data/models/<network>.pt`, pipeline/artifacts.py)
and read their clips through the same input view, with the statistics fitted at training
(`Inputs.restore`). With `random=True`, or where a model file is missing (the picture says so),
an untrained network is built from params.yaml, its view fitted on the shown clips, so that the
drawing can be looked at before anything is trained.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

import models
from pipeline.artifacts import (MODELS, TrainedModel, load_model, model_path,
                                preprocessing_changes)
from pipeline.datasets import SHARDS, Inputs, shards, view
from pipeline.params import read_params
from pipeline.protocols import parse_protocols
from pipeline.schemes import SCHEMES
from pipeline.train import network

# The networks with attention, in the order of the picture's columns.
WITH_ATTENTION = ("sma_stn", "micro_attention", "stanet", "fr")
TITLES = {"sma_stn": "SMA-STN", "micro_attention": "Micro-Attention", "stanet": "STANet",
          "fr": "FR"}
# The aligned frame each network's maps are drawn on: its own apex where it reads one.
FACE_APEX = {"micro_attention": "apex_micro_attention"}


# --------------------------------------------------------------------------- extraction

def raw_attention(module: nn.Module, x: torch.Tensor, classes: tuple[str, ...] | None = None
                  ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """One forward pass in eval mode: (probabilities (B, K), {name: per-sample map or weights}),
    unscaled. `classes` names FR's per-class maps ("proposal 0" without). Hooks read the two
    things `ModelOutput` does not hold (SMA-STN's layer-4 grid size, Micro-Attention's last
    feature map), so the networks stay as they are."""
    module.eval()
    seen: dict[str, torch.Tensor] = {}
    hooks = []
    if getattr(module, "nonlocal_block", None) is not None:
        hooks.append(module.nonlocal_block.register_forward_hook(
            lambda _m, _i, out: seen.__setitem__("nonlocal", out[0])))       # (B*4, C, h, w)
    if isinstance(getattr(module, "head_bn", None), nn.BatchNorm2d):
        hooks.append(module.head_bn.register_forward_hook(
            lambda _m, _i, out: seen.__setitem__("head", out)))              # (B, C, h, w)
    try:
        with torch.no_grad():
            out = module(x.float())
    finally:
        for hook in hooks:
            hook.remove()
    probabilities = torch.softmax(out.logits.float(), dim=1).numpy()         # (B, K)
    att = {k: v.float() for k, v in out.attention.items()}
    maps: dict[str, torch.Tensor] = {}
    if "segments" in att:                                                   # SMA-STN
        maps["segments"] = att["segments"]                                  # (B, 4)
    if "nonlocal" in att:
        h, w = seen["nonlocal"].shape[-2:]
        attended = att["nonlocal"].mean(dim=2).unflatten(-1, (h, w))         # (B, 4, h, w)
        for i in range(attended.shape[1]):
            maps[f"non-local I{i}"] = attended[:, i]                         # (B, h, w)
    for name in sorted(k for k in att if k.startswith("stage")):            # Micro-Attention
        maps[name] = att[name].mean(dim=1)                                  # (B, h_i, w_i)
    if "head" in seen and any(k.startswith("stage") for k in att):
        maps["features"] = torch.relu(seen["head"]).mean(dim=1)              # (B, H/32, W/32)
    if "spatial" in att:                                                    # STANet
        spatial = att["spatial"][:, :, 0]                                   # (B, L, h, w)
        maps["spatial"] = spatial.mean(dim=1)                               # (B, h, w)
        if "temporal" in att:
            top = att["temporal"].argmax(dim=1)                             # (B,)
            maps["spatial (top frame)"] = spatial[torch.arange(len(top)), top]   # (B, h, w)
    if "temporal" in att:
        maps["temporal"] = att["temporal"]                                  # (B, L)
    if "proposal" in att:                                                   # FR
        a = att["proposal"]                                                 # (B, K, D)
        side = module.input_size // 4                   # two 2x2 pools (models/fr.py)
        # z is [u stream, v stream], each (C, side, side) flattened channel-major
        grid = a.unflatten(-1, (2, -1, side, side)).sum(dim=(2, 3))          # (B, K, s, s)
        for k in range(grid.shape[1]):
            maps[f"proposal {classes[k] if classes else k}"] = grid[:, k]   # (B, s, s)
    return probabilities, {k: v.numpy() for k, v in maps.items()}


def scaled(maps: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per sample, 2-D maps min-max scaled to [0, 1] (a constant map is 0) and 1-D weights
    divided by their sum."""
    out = {}
    for name, value in maps.items():
        v = value.astype(np.float64)
        if v.ndim == 2:                                                     # (B, n) weights
            out[name] = v / v.sum(axis=1, keepdims=True)
        else:                                                               # (B, h, w) maps
            lo = v.min(axis=(1, 2), keepdims=True)
            span = v.max(axis=(1, 2), keepdims=True) - lo
            out[name] = np.where(span > 0, (v - lo) / np.where(span > 0, span, 1), 0.0)
    return out


def attention_maps(model: nn.Module | TrainedModel, x: torch.Tensor,
                   classes: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """The attention of a batch x (B, ...) as pictures: {name: (B, h, w) maps in [0, 1] or
    (B, n) weights summing to 1 per sample}. Empty for a network without attention. A loaded
    model file names FR's maps by its classes."""
    if isinstance(model, TrainedModel):
        model, classes = model.module, classes or model.classes
    return scaled(raw_attention(model, x, classes)[1])


# --------------------------------------------------------------------------- networks and clips

@dataclass
class Shown:
    """One network's attention on the chosen clips (row i of each array is clip i)."""

    network: str
    sample_ids: list[str]
    emotions: list[str | None]                   # each clip's label as its database spells it
    classes: tuple[str, ...]                     # the network's, in the order of its logits
    scheme: str                                  # the class scheme they come from
    truth: list[str | None]                      # each clip's label under `scheme`
    probabilities: np.ndarray                    # (B, K)
    maps: dict[str, np.ndarray]                  # raw_attention's: (B, h, w) maps, (B, n) weights
    faces: list[np.ndarray]                      # each clip's aligned grey frame (H, W)
    note: str = ""                               # "untrained: ...", preprocessing changes


def untrained(name: str, params: dict, ids: list[str], shards_root: Path
              ) -> tuple[nn.Module, Inputs, tuple[str, ...], str, str]:
    """An untrained network as params.yaml builds it (seed 0), its view fitted on `ids`, the
    classes of its first protocol's scheme, and which weights it did load (Micro-Attention's
    pre-trained trunk: not random, but not trained on micro-expressions either)."""
    net = network(name, params)
    scheme = parse_protocols(params)[net.cfg.protocols[0]].scheme
    classes = SCHEMES[scheme].classes
    torch.manual_seed(0)
    module = net.build(len(classes)).eval()
    inputs = net.inputs(shards_root, load=ids)
    inputs.fit(ids)
    loaded = ", ".join(str(p) for p in net.checkpoints())
    return module, inputs, tuple(classes), scheme, f" (trunk from {loaded})" if loaded else ""


def trained(path: Path, ids: list[str], shards_root: Path, params: dict
            ) -> tuple[nn.Module, Inputs, tuple[str, ...], str, str]:
    """The model file's network and its input view restored with the statistics fitted at
    training; the note names preprocessing settings that differ from params.yaml's."""
    model = load_model(path)
    inputs = view(model.inputs["view"])(**model.inputs["arguments"], shards_root=shards_root)
    inputs.load(ids)
    inputs.restore(model.inputs["fitted"])
    changes = preprocessing_changes(model, params)
    more = f" (+{len(changes) - 1} more)" if len(changes) > 1 else ""
    note = f"preprocessing differs: {changes[0]}{more}" if changes else ""
    return model.module, inputs, model.classes, model.scheme, note


def show(name: str, ids: list[str], params: dict, shards_root: Path = SHARDS,
         models_dir: Path = MODELS, random: bool = False) -> Shown:
    """Network `name`'s attention on the clips `ids`: the trained model, else (or with
    `random`) an untrained one."""
    stages = view(models.card(name).inputs).stages
    have = set.intersection(*(set(shards(st, str(shards_root)).sample_ids) for st in stages))
    lacking = [s for s in ids if s not in have]
    if lacking:
        raise SystemExit(f"attention: {lacking[0]} has no {'+'.join(stages)} shard for {name} "
                         "(failed upstream? see data/reports/); pick another clip")
    path = model_path(name, models_dir)
    if random or not path.is_file():
        module, inputs, classes, scheme, loaded = untrained(name, params, ids, shards_root)
        note = (f"untrained{loaded or ' (random weights)'}" if random
                else f"untrained{loaded}: no {path}")
    else:
        module, inputs, classes, scheme, note = trained(path, ids, shards_root, params)
    x = inputs.batch(ids, False, np.random.default_rng(0)).cpu()            # (B, ...)
    probabilities, maps = raw_attention(module, x, classes)
    align, flow = shards("align", str(shards_root)), shards("flow", str(shards_root))
    apexes = [int(flow.attrs(s)[FACE_APEX.get(name, "apex_fr")]) for s in ids]
    faces = [cv2.cvtColor(align.read(s, "frames", a), cv2.COLOR_RGB2GRAY)
             for s, a in zip(ids, apexes)]                                  # (H, W) each
    labels = [align.attrs(s) for s in ids]
    return Shown(name, list(ids), [a.get("emotion") for a in labels], classes, scheme,
                 [a.get(scheme) for a in labels], probabilities, maps, faces, note)


def collect(ids: list[str], networks: list[str], params_path: str | Path = "params.yaml",
            shards_root: Path = SHARDS, models_dir: Path = MODELS,
            random: bool = False) -> list[Shown]:
    """Every chosen network's attention on the clips `ids`."""
    for name in networks:
        if name not in WITH_ATTENTION:
            raise SystemExit(f"attention: {name} has no attention to show; choose from "
                             f"{', '.join(WITH_ATTENTION)} (STRCN has none)")
    params = read_params(params_path)
    missing = [s for s in ids if s not in set(shards("align", str(shards_root)).sample_ids)]
    if missing:
        raise SystemExit(f"attention: {missing[0]} has no aligned shard; run `dvc repro` first "
                         "or pick an id from data/index/samples.csv")
    return [show(name, ids, params, shards_root, models_dir, random) for name in networks]


# --------------------------------------------------------------------------- drawing

def columns(shown: list[Shown]) -> list[tuple[Shown, str]]:
    """(network, map name) of every column, in the order drawn."""
    return [(s, name) for s in shown for name in s.maps]


def draw_weights(ax, name: str, weights: np.ndarray) -> None:
    """Weights as bars against the uniform weight (dashed), values written where few."""
    n = len(weights)
    labels = [f"I{i}" if name == "segments" else str(i + 1) for i in range(n)]
    ax.bar(range(n), weights, color="tab:blue")
    ax.axhline(1 / n, color="grey", lw=0.8, ls="--")
    ax.set_xticks(range(n), [t if n <= 6 or i % 3 == 0 else "" for i, t in enumerate(labels)])
    ax.tick_params(labelsize=5.5)
    ax.set_ylim(0, max(weights.max() * 1.25, 1.5 / n))
    ax.set_xlabel("dynamic image" if name == "segments" else "flow (frame pair)", fontsize=6)
    if n <= 6:
        for i, w in enumerate(weights):
            ax.text(i, w, f"{w:.2f}", ha="center", va="bottom", fontsize=5.5)


def draw_map(ax, raw: np.ndarray, face: np.ndarray):
    """A map scaled to [0, 1], resized to the aligned face (nearest: each cell a block, no
    smooth blob made up between cells) and laid over it; below it, its native size and raw
    range (a constant map is left uncoloured). Returns the colour layer."""
    ax.imshow(face, cmap="gray")
    ax.set_xticks([])
    ax.set_yticks([])
    size = f"{raw.shape[0]}x{raw.shape[1]}"
    if raw.max() <= raw.min():
        ax.set_xlabel(f"{size}, uniform {raw.min():.3g}", fontsize=5.5)
        return None
    value = scaled({"map": raw[None]})["map"][0].astype(np.float32)          # (h, w)
    big = cv2.resize(value, face.shape[::-1], interpolation=cv2.INTER_NEAREST)  # (H, W)
    ax.set_xlabel(f"{size}, {raw.min():.3g}-{raw.max():.3g}", fontsize=5.5)
    return ax.imshow(big, cmap="jet", alpha=0.45, vmin=0, vmax=1)


def motion(ids: list[str], shards_root: Path = SHARDS) -> list[np.ndarray]:
    """Each clip's onset->apex flow magnitude on the aligned frame (H, W): where the face
    moved, to hold the maps against."""
    flow = shards("flow", str(shards_root))
    return [np.linalg.norm(flow.read(s, "flow"), axis=-1) for s in ids]    # (H, W) each


def attention_figure(shown: list[Shown], moved: list[np.ndarray] | None = None,
                     tile: float = 1.7) -> Figure:
    """The picture: one row per clip, one column per map (weights as bars, maps over the
    clip's aligned face), each tile titled with the network, the map and the network's
    predicted class and probability; with `moved` (per clip, `motion`), a first column of
    where the face moved. Returns the matplotlib Figure: its axes are the tiles, row by row,
    then the colour bar."""
    cols = columns(shown)
    if not cols:
        raise ValueError("attention: none of the chosen networks has attention maps")
    ids = shown[0].sample_ids
    first = 1 if moved is not None else 0
    fig = Figure(figsize=(tile * (len(cols) + first) + 0.8, tile * 1.45 * len(ids) + 0.5))
    axes = fig.subplots(len(ids), len(cols) + first, squeeze=False)
    heat = None
    for r, sid in enumerate(ids):
        if moved is not None:
            axes[r, 0].set_title("where the face moved\nonset->apex flow", fontsize=6.5)
            heat = draw_map(axes[r, 0], moved[r], shown[0].faces[r]) or heat
            axes[r, 0].set_xlabel(f"|flow| 0-{moved[r].max():.2g} px", fontsize=5.5)
        for c, (net, name) in enumerate(cols, start=first):
            ax, raw = axes[r, c], net.maps[name][r]
            k = int(net.probabilities[r].argmax())
            mark = " (untrained)" if net.note.startswith("untrained") else ""
            ax.set_title(f"{TITLES[net.network]}{mark}\n{name}\npred {net.classes[k]} "
                         f"{net.probabilities[r, k]:.2f} (true {net.truth[r] or '-'})",
                         fontsize=6.5)
            if raw.ndim == 1:
                draw_weights(ax, name, raw / raw.sum())
            else:
                heat = draw_map(ax, raw, net.faces[r]) or heat
        axes[r, 0].set_ylabel(f"{sid}\n{shown[0].emotions[r] or ''}", fontsize=6.5)
    notes = [f"{TITLES[s.network]}: {s.note}" for s in shown if s.note]
    fig.suptitle("What the networks attend to (maps scaled per tile to [0, 1]; below each: "
                 "native size, raw range; bars: weights, dashed = uniform)"
                 + "".join(f"\n{n}" for n in notes), fontsize=8)
    fig.tight_layout(rect=(0, 0, 0.965, 1))
    if heat is not None:
        bar = fig.colorbar(heat, cax=fig.add_axes((0.972, 0.25, 0.007, 0.5)))
        bar.set_label("attention (scaled)", fontsize=7)
        bar.ax.tick_params(labelsize=6)
    return fig


def attention_sheet(ids: list[str], out: Path, networks: list[str] | None = None,
                    random: bool = False, params_path: str | Path = "params.yaml",
                    shards_root: Path = SHARDS, models_dir: Path = MODELS) -> Path:
    """Write the attention picture of the clips `ids` to `out` (PNG) and return its path."""
    fig = attention_figure(collect(ids, list(networks or WITH_ATTENTION), params_path,
                                   shards_root, models_dir, random), motion(ids, shards_root))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    return out

"""`pretrain` stage: Micro-Attention's transfer-learning step on macro-expression images.

The paper initialises its ResNet10 from ImageNet, pre-trains it WITHOUT attention units on
macro-expression databases (CK+, Oulu-CASIA, JAFFE, MUG), and fine-tunes the same network WITH
micro-attention on micro-expressions. Here the macro images are a folder of class folders
(`pretrain.images`: the synthetic MACRO/ set by default, or your own `<class>/<image>` folder);
an ImageNet start is a local checkpoint (`pretrain.init_checkpoint`, none offline). The width
is Micro-Attention's own (`baselines.micro_attention.net.width`), so the weights always fit the
network they initialise. They go to data/models/micro_attention_pretrain.pt, which
train@micro_attention starts every fold from (the classifier, whose classes differ, is left out
there).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from models.micro_attention import resnet10
from models.registry import load_weights
from pipeline.atomic import write_atomic
from pipeline.params import SGD, ParamsError, convert, parse, read_params, section
from pipeline.training import batch_order, device_of, fit, use_device

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp"}
CHECKPOINT = Path("data/models/micro_attention_pretrain.pt")


@dataclass(frozen=True)
class PretrainParams:
    """params.yaml `pretrain`."""

    images: str                   # a folder of <class>/<image> files
    input_size: int               # images are resized to input_size x input_size
    epochs: int
    batch_size: int
    optimizer: SGD
    init_checkpoint: str | None   # a local ResNet10 state dict to start from; null: from scratch
    threads: int                  # CPU threads for torch
    seed: int

    def check(self) -> None:
        if self.input_size < 32:
            raise ValueError(f"input_size: at least 32, got {self.input_size}")
        if self.epochs < 1 or self.batch_size < 2 or self.threads < 1:
            raise ValueError("epochs: epochs and threads must be at least 1, batch_size 2")
        if self.init_checkpoint is not None and not Path(self.init_checkpoint).is_file():
            raise ValueError(f"init_checkpoint: {self.init_checkpoint} does not exist")


def read_folder(root: Path, size: int) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Grey images (N, 1, size, size) float32, class names, labels (N,) from <class>/<image>."""
    if not root.is_dir():
        raise SystemExit(f"pretrain: {root} does not exist; set pretrain.images in params.yaml to "
                         "a folder of <class>/<image> files")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    images, labels = [], []
    for k, name in enumerate(classes):
        for path in sorted((root / name).iterdir()):
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
            if image is None:
                raise SystemExit(f"pretrain: {path} cannot be read as an image; remove or replace it")
            images.append(cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA))
            labels.append(k)
    if len(classes) < 2 or not images:
        raise SystemExit(f"pretrain: {root} needs at least two class folders with images")
    x = (np.stack(images).astype(np.float32) / 255 - 0.5) / 0.25
    return x[:, None], classes, np.array(labels)


def pretrain(cfg: PretrainParams, width: int, checkpoint: Path) -> dict:
    """Train the plain ResNet10 on the macro images; save its weights; return a summary."""
    device = device_of()
    use_device(device, cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    x, classes, y = read_folder(Path(cfg.images), cfg.input_size)
    net = resnet10(num_classes=len(classes), width=width)
    if cfg.init_checkpoint:
        load_weights(net, cfg.init_checkpoint)

    def batches(epoch: int):
        for chosen in batch_order(len(y), cfg.batch_size, rng):
            yield torch.from_numpy(x[chosen]), torch.from_numpy(y[chosen])

    bar = tqdm(total=cfg.epochs, desc="pretrain", unit="epoch")
    curve = fit(net, cfg.optimizer, cfg.epochs, batches, device,
                on_epoch=lambda row: (bar.update(), bar.set_postfix(accuracy=f"{row['accuracy']:.2f}")))
    bar.close()
    state = {k: v.cpu() for k, v in net.state_dict().items()}
    write_atomic(checkpoint, lambda tmp: torch.save(state, tmp))
    return {"images": len(y), "classes": classes, "train_accuracy": round(curve[-1]["accuracy"], 4)}


def main(params_path: str = "params.yaml") -> None:
    params = read_params(params_path)
    cfg = parse(PretrainParams, section(params, "pretrain"), "pretrain")
    width = convert(section(params, "baselines.micro_attention.net.width"), int,
                    "baselines.micro_attention.net.width")
    summary = pretrain(cfg, width, CHECKPOINT)
    write_atomic("metrics/pretrain.json", json.dumps(summary, indent=2) + "\n")
    print(f"pretrain: {summary['images']} images, {len(summary['classes'])} classes, "
          f"train accuracy {summary['train_accuracy']:.3f}")


if __name__ == "__main__":
    try:
        main(*sys.argv[1:])
    except ParamsError as error:
        sys.exit(f"pretrain: {error}")

"""`pretrain` stage: Micro-Attention's transfer-learning step on macro-expression images.

The paper initialises its ResNet10 from ImageNet, pre-trains it WITHOUT attention units on
macro-expression databases (CK+, Oulu-CASIA, JAFFE, MUG), and fine-tunes the same network WITH
micro-attention on micro-expressions. Here the macro images are a folder of class folders
(`pretrain.images`: the synthetic MACRO/ set by default, or your own `<class>/<image>` folder),
with the paper's augmentation (colour shift 20, rotation 10, smoothing window 6, each with
probability 0.5) and its 1/10 of the images held out, whose accuracy metrics/pretrain.json
reports; an ImageNet start is a local checkpoint (`pretrain.init_checkpoint`, none offline; a
torchvision ResNet-18 state dict is mapped onto ResNet10). The width
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

from models.micro_attention import from_torchvision, resnet10
from models.registry import load_weights
from pipeline.atomic import write_atomic
from pipeline.augment import augment_batch, draw_augmentation, normalise
from pipeline.params import SGD, ParamsError, convert, parse, read_params, section
from pipeline.training import batch_order, device_of, fit, use_device

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp"}
CHECKPOINT = Path("data/models/micro_attention_pretrain.pt")


@dataclass(frozen=True)
class Augment:
    """The pre-training augmentations, each applied with probability 0.5 (0: off)."""

    colour_shift: float           # brightness shift up to +-colour_shift
    rotation: float               # degrees, up to +-rotation
    smoothing: int                # box filter window up to this many px


@dataclass(frozen=True)
class PretrainParams:
    """params.yaml `pretrain`."""

    images: str                   # a folder of <class>/<image> files
    input_size: int               # images are resized to input_size x input_size
    epochs: int
    batch_size: int
    optimizer: SGD
    validation: float             # share of each class's images held out to report accuracy on
    augment: Augment
    init_checkpoint: str | None   # a local ResNet10 (or torchvision ResNet) state dict; null: none
    threads: int                  # CPU threads for torch
    seed: int

    def check(self) -> None:
        if self.input_size < 32:
            raise ValueError(f"input_size: at least 32, got {self.input_size}")
        if self.epochs < 1 or self.batch_size < 2 or self.threads < 1:
            raise ValueError("epochs: epochs and threads must be at least 1, batch_size 2")
        if not 0 <= self.validation < 0.5:
            raise ValueError(f"validation: a share in [0, 0.5), got {self.validation}")
        if self.init_checkpoint is not None and not Path(self.init_checkpoint).is_file():
            raise ValueError(f"init_checkpoint: {self.init_checkpoint} does not exist")


def read_folder(root: Path, size: int) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Grey images (N, size, size) uint8, class names, labels (N,) from <class>/<image>."""
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
    return np.stack(images), classes, np.array(labels)


def split(labels: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    """A boolean mask of held-out images: `share` of each class (at least one where a class
    has two or more), drawn at random, as the paper holds out 1/10 of the images."""
    held = np.zeros(len(labels), bool)
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        n = int(round(share * len(members)))
        if share > 0 and len(members) >= 2:
            n = max(1, n)
        held[members[:n]] = True
    return held


def pretrain(cfg: PretrainParams, width: int, checkpoint: Path) -> dict:
    """Train the plain ResNet10 on the macro images (augmented as the paper does); save its
    weights; return a summary with the training and the held-out accuracy."""
    device = device_of()
    use_device(device, cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    images, classes, labels = read_folder(Path(cfg.images), cfg.input_size)
    held = split(labels, cfg.validation, rng)
    pixels = torch.from_numpy(images).to(device)[:, None]                    # (N, 1, S, S) uint8
    train_x, train_y = pixels[torch.from_numpy(~held).to(device)], labels[~held]
    net = resnet10(num_classes=len(classes), width=width)
    if cfg.init_checkpoint:
        n = load_weights(net, cfg.init_checkpoint, convert=lambda state: from_torchvision(state, net))
        print(f"pretrain: {cfg.init_checkpoint}: {n} tensors loaded")
    aug = cfg.augment

    def batches(epoch: int):
        for chosen in batch_order(len(train_y), cfg.batch_size, rng):
            choices = [draw_augmentation(rng, False, aug.colour_shift, aug.rotation, aug.smoothing)
                       for _ in chosen]
            x = augment_batch(train_x[torch.from_numpy(chosen).to(device)].float(), choices)
            yield normalise(x.clamp(0, 255)), torch.from_numpy(train_y[chosen])

    bar = tqdm(total=cfg.epochs, desc="pretrain", unit="epoch")
    curve = fit(net, cfg.optimizer, cfg.epochs, batches, device,
                on_epoch=lambda row: (bar.update(), bar.set_postfix(accuracy=f"{row['accuracy']:.2f}")))
    bar.close()
    summary = {"images": len(labels), "classes": classes, "train_images": int((~held).sum()),
               "train_accuracy": curve[-1]["accuracy"], "validation_images": int(held.sum())}
    if held.any():
        net.eval()
        x_held, right = normalise(pixels[torch.from_numpy(held).to(device)].float()), 0
        with torch.no_grad():
            for start in range(0, len(x_held), cfg.batch_size):
                predicted = net(x_held[start:start + cfg.batch_size]).logits.argmax(1).cpu().numpy()
                right += int((predicted == labels[held][start:start + cfg.batch_size]).sum())
        summary["validation_accuracy"] = right / len(x_held)
    state = {k: v.cpu() for k, v in net.state_dict().items()}
    write_atomic(checkpoint, lambda tmp: torch.save(state, tmp))
    return summary


def main(params_path: str = "params.yaml") -> None:
    params = read_params(params_path)
    cfg = parse(PretrainParams, section(params, "pretrain"), "pretrain")
    width = convert(section(params, "baselines.micro_attention.net.width"), int,
                    "baselines.micro_attention.net.width")
    summary = pretrain(cfg, width, CHECKPOINT)
    write_atomic("metrics/pretrain.json", json.dumps(summary, indent=2) + "\n")
    print(f"pretrain: {summary['images']} images, {len(summary['classes'])} classes, train "
          f"accuracy {summary['train_accuracy']:.3f}, held-out {summary.get('validation_accuracy', float('nan')):.3f}")


if __name__ == "__main__":
    try:
        main(*sys.argv[1:])
    except ParamsError as error:
        sys.exit(f"pretrain: {error}")

"""`pretrain` stage: Micro-Attention's transfer-learning step on macro-expression images.

The paper initialises its ResNet10 from ImageNet, pre-trains it WITHOUT attention units on
macro-expression databases (CK+, Oulu-CASIA, JAFFE, MUG), and fine-tunes the same network WITH
micro-attention on micro-expressions. Here the macro images are a folder of class folders
(`pretrain.images`: the synthetic MACRO/ set by default, or your own `<class>/<image>` folder);
an ImageNet start is a local checkpoint (`pretrain.init_checkpoint`, none offline). The weights
go to data/models/micro_attention_pretrain.pt, which train@micro_attention starts every fold
from (the classifier, whose classes differ, is left out there).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import torch
import yaml
from tqdm import tqdm

import models

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp"}


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


def pretrain(cfg: dict, checkpoint: Path) -> dict:
    """Train the plain ResNet10 on the macro images; save its weights; return a summary."""
    torch.manual_seed(int(cfg["seed"]))
    rng = np.random.default_rng(int(cfg["seed"]))
    x, classes, y = read_folder(Path(cfg["images"]), int(cfg["input_size"]))
    net = models.create_model("resnet10", num_classes=len(classes), width=int(cfg["width"]))
    if cfg.get("init_checkpoint"):
        state = torch.load(cfg["init_checkpoint"], map_location="cpu", weights_only=True)
        own = net.state_dict()
        net.load_state_dict({k: v for k, v in state.items() if k in own and own[k].shape == v.shape},
                            strict=False)
    opt = cfg["optimizer"]
    optimizer = torch.optim.SGD(net.parameters(), lr=float(opt["lr"]), momentum=float(opt["momentum"]),
                                weight_decay=float(opt.get("weight_decay", 0.0)))
    schedule = torch.optim.lr_scheduler.StepLR(optimizer, int(opt["step_epochs"]), float(opt["gamma"]))
    size = int(cfg["batch_size"])
    accuracy = 0.0
    for _ in tqdm(range(int(cfg["epochs"])), desc="pretrain", unit="epoch"):
        net.train()
        correct = 0
        order = rng.permutation(len(y))
        for start in range(0, len(y), size):
            chosen = order[start:start + size]
            xb, yb = torch.from_numpy(x[chosen]), torch.from_numpy(y[chosen])
            out = net(xb)
            loss, _ = net.loss(out, yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            correct += int((out.logits.argmax(1) == yb).sum())
        schedule.step()
        accuracy = correct / len(y)
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    tmp = checkpoint.with_suffix(".tmp")
    torch.save(net.state_dict(), tmp)
    tmp.replace(checkpoint)
    return {"images": len(y), "classes": classes, "train_accuracy": round(accuracy, 4)}


def main(params_path: str = "params.yaml") -> None:
    cfg = yaml.safe_load(Path(params_path).read_text())["pretrain"]
    summary = pretrain(cfg, Path("data/models/micro_attention_pretrain.pt"))
    Path("metrics").mkdir(exist_ok=True)
    Path("metrics/pretrain.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"pretrain: {summary['images']} images, {len(summary['classes'])} classes, "
          f"train accuracy {summary['train_accuracy']:.3f}")


if __name__ == "__main__":
    main(*sys.argv[1:])

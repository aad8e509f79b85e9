"""Trained models as files: one per network, with everything needed to use it again.

Each train@<network> stage also trains its network once on every labelled sample of its first
protocol (same section, same fixed epoch budget; no metric comes from it) and writes
`data/models/<network>.pt`, declared in dvc.yaml under `artifacts:`. The file is a torch
checkpoint of plain data (it loads with `weights_only=True`):

    network        "fr"
    state_dict     the weights
    net            the constructor arguments (`models.create_model(network, num_classes, **net)`)
    inputs         the input view (a class of pipeline/datasets.py), its arguments, and the
                   statistics it fitted on the training samples (`Inputs.fitted()`: FR's flow
                   scale, STRCN-A's mask), which a new clip must be read with
    classes        class names, in the order of the logits
    scheme         the class scheme they come from; protocol: the protocol whose data trained it
    section        the network's params.yaml section as trained (checked)
    preprocessing  the params.yaml sections of the preprocessing stages that made its inputs
    samples        how many samples trained it
    torch          the torch version that trained it

`load_model(path)` builds the network from it, ready for inference; `preprocessing_changes`
says which preprocessing settings of a params.yaml differ from the model's, so that a model is
never fed inputs prepared otherwise than it was trained on without a word.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import torch

import models
from pipeline.atomic import write_atomic

# The stages whose params decide what a network's inputs look like.
PREPROCESSING = ("align", "magnify", "flow", "masks", "dynamic")
MODELS = Path("data/models")


def model_path(network: str, folder: Path = MODELS) -> Path:
    return Path(folder) / f"{network}.pt"


@dataclass
class TrainedModel:
    """A loaded artifact: the network in eval mode and what it was trained with."""

    network: str
    module: torch.nn.Module
    classes: tuple[str, ...]
    scheme: str
    protocol: str
    net: dict
    inputs: dict                   # {"view": class name, "arguments": {...}, "fitted": {...}}
    section: dict
    preprocessing: dict[str, dict]
    samples: int
    torch_version: str


def save_model(path: Path, network: str, module: torch.nn.Module, classes: tuple[str, ...],
               scheme: str, protocol: str, net: dict, view: str, view_arguments: dict,
               fitted: dict, section: dict, preprocessing: dict[str, dict], samples: int) -> Path:
    """Write the artifact atomically. The same weights and settings give the same bytes."""
    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    content = {"network": network, "state_dict": state, "net": dict(net),
               "inputs": {"view": view, "arguments": dict(view_arguments), "fitted": fitted},
               "classes": list(classes), "scheme": scheme, "protocol": protocol,
               "section": section, "preprocessing": preprocessing, "samples": int(samples),
               "torch": str(torch.__version__)}
    buffer = io.BytesIO()
    torch.save(content, buffer)
    return write_atomic(path, buffer.getvalue())


def load_model(path: str | Path, device: torch.device | str = "cpu") -> TrainedModel:
    """The artifact at `path` as a network in eval mode on `device`."""
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"{file}: no trained model; run `dvc repro` (train@<network> "
                                "writes data/models/<network>.pt)")
    content = torch.load(file, map_location="cpu", weights_only=True)
    module = models.create_model(content["network"], num_classes=len(content["classes"]),
                                 **content["net"])
    module.load_state_dict(content["state_dict"])
    module.to(device).eval()
    return TrainedModel(content["network"], module, tuple(content["classes"]), content["scheme"],
                        content["protocol"], content["net"], content["inputs"],
                        content["section"], content["preprocessing"], content["samples"],
                        content["torch"])


def preprocessing_of(params: dict) -> dict[str, dict]:
    """The preprocessing sections of a params.yaml, as a model records them."""
    return {stage: params[stage] for stage in PREPROCESSING if stage in params}


def preprocessing_changes(model: TrainedModel, params: dict) -> list[str]:
    """'flow.tvl1.tau: 0.25 (model) vs 0.3 (params.yaml)' for every setting that differs."""
    changes: list[str] = []

    def compare(trained: object, now: object, where: str) -> None:
        if isinstance(trained, dict) and isinstance(now, dict):
            for key in sorted(set(trained) | set(now)):
                compare(trained.get(key), now.get(key), f"{where}.{key}")
        elif trained != now:
            changes.append(f"{where}: {trained!r} (model) vs {now!r} (params.yaml)")

    current = preprocessing_of(params)
    for stage in PREPROCESSING:
        compare(model.preprocessing.get(stage), current.get(stage), stage)
    return changes

"""A small registry: every network family registers its builders by name, each with a card of
what the pipeline knows about it, and `create_model(name, **kwargs)` builds one.

    from models import create_model, card
    net = create_model("fr", num_classes=3)
    out = net(x)            # a ModelOutput: logits plus whatever the network's loss needs
    card("fr").section      # 'baselines.fr', the params.yaml section of train@fr

Lookup is lazy: asking for "fr" imports models/fr.py and no other network file, so a train
stage depends on its own network's code only (editing models/fr.py re-trains FR alone). Which
file registers a name is read from the files' `@register("...")` lines, without importing them.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

import torch
from torch import nn

HERE = Path(__file__).resolve().parent


@dataclass
class ModelOutput:
    """What a forward pass returns. `logits` (B, K) always; the rest only where the network
    makes it, so that its loss and its attention pictures can use them."""

    logits: torch.Tensor
    features: torch.Tensor | None = None                 # (B, ..., D) what a feature loss reads
    attention: dict[str, torch.Tensor] = field(default_factory=dict)   # maps / weights to show
    aux: dict[str, torch.Tensor] = field(default_factory=dict)         # extra loss inputs


@dataclass(frozen=True)
class Card:
    """Everything the pipeline knows about a network, declared once beside it (timm's
    default_cfg). The trainer, the evaluator, the benchmarks and the tests read it; a test
    checks dvc.yaml's train and evaluate stages against it.

    `input_shape` is one sample without the batch axis: an int is fixed, None is any size, and
    a string names the constructor argument that fixes it (FR's "input_size")."""

    input_shape: tuple[int | str | None, ...]
    paper_input: tuple[int, ...]      # one sample at the paper's sizes (bench/models.py)
    section: str | None = None        # params.yaml section of its train@ stage; None: no stage
    inputs: str | None = None         # its input view, a class in pipeline/datasets.py
    loss_weight: str | None = None    # the constructor argument that the section's `lambda` sets


_BUILDERS: dict[str, Callable[..., nn.Module]] = {}
_CARDS: dict[str, Card] = {}


def register(name: str, card: Card) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: `@register("fr", Card(...))` above a builder function or an nn.Module class.
    Keep the name a string literal: the lazy lookup finds the file by it."""
    def add(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _BUILDERS:
            raise ValueError(f"network {name!r} is registered twice")
        _BUILDERS[name] = builder
        _CARDS[name] = card
        return builder
    return add


@lru_cache(maxsize=1)
def _registered_names() -> dict[str, str]:
    """{network name: module} from the `register("name", ...)` calls in models/*.py."""
    found: dict[str, str] = {}
    for path in sorted(HERE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "register"
                    and node.args and isinstance(node.args[0], ast.Constant)):
                found[node.args[0].value] = f"models.{path.stem}"
    return found


def module_of(name: str) -> str | None:
    """The module that registers network `name` (`models.fr`), None if no file does."""
    return _registered_names().get(name)


def _load(name: str) -> None:
    if name not in _BUILDERS:
        module = module_of(name)
        if module is None:
            raise ValueError(f"unknown network {name!r}; registered: {', '.join(list_models())}")
        importlib.import_module(module)


def list_models() -> list[str]:
    """Every registered name, sorted (without importing any network file)."""
    return sorted(_registered_names())


def pipeline_networks() -> list[str]:
    """The networks with a train@ stage, the flagship (`model` section) first. Imports every
    network file: for tests, benchmarks and reports, not for a stage."""
    names = [n for n in list_models() if card(n).section is not None]
    return sorted(names, key=lambda n: (card(n).section != "model", n))


def card(name: str) -> Card:
    """The card of network `name` (imports its file on first use)."""
    _load(name)
    return _CARDS[name]


def builder(name: str) -> Callable[..., nn.Module]:
    """The class or function registered as `name`, for reading its constructor's arguments."""
    _load(name)
    return _BUILDERS[name]


def create_model(name: str, **kwargs) -> nn.Module:
    """Build the network registered as `name` with its constructor's keyword arguments."""
    return builder(name)(**kwargs)


def example_shape(name: str, size: int = 32, **kwargs) -> tuple[int, ...]:
    """A small input of one sample for `name`: free sizes set to `size`, argument-bound sizes
    from `kwargs` or the constructor's defaults (tests and smoke runs)."""
    defaults = {k: p.default for k, p in inspect.signature(builder(name)).parameters.items()}
    return tuple(size if d is None else int(kwargs.get(d, defaults.get(d))) if isinstance(d, str)
                 else d for d in card(name).input_shape)


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def load_weights(module: nn.Module, path: str | Path, skip: tuple[str, ...] = ("fc.",),
                 may_lack: tuple[str, ...] = (),
                 convert: Callable[[dict], dict] | None = None) -> int:
    """Load a local state dict into `module`; returns how many tensors were loaded. Never
    downloads.

    Accepts a bare state dict or one under "state_dict" / "model", strips a DataParallel
    "module." prefix, and leaves out keys starting with a `skip` prefix (a classifier whose
    classes differ). `convert` may rename another layout's keys first (torchvision's ResNet for
    Micro-Attention). Every other key of `module` must be in the file with the same shape,
    except those containing a `may_lack` part (layers new at fine-tuning); anything else is a
    ValueError that lists the differences (or says that nothing fits)."""
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"checkpoint {file} does not exist (nothing is downloaded)")
    state = torch.load(file, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    state = {k.removeprefix("module."): v for k, v in state.items()}
    if convert is not None:
        try:
            state = convert(state)
        except KeyError as key:
            raise ValueError(f"checkpoint {file} looks like {type(module).__name__}'s source "
                             f"layout but lacks {key}") from None
        except ValueError as error:
            raise ValueError(f"checkpoint {file}: {error}") from None
    state = {k: v for k, v in state.items() if not k.startswith(skip)}
    own = {k: v for k, v in module.state_dict().items() if not k.startswith(skip)}
    missing = sorted(k for k in set(own) - set(state) if not any(p in k for p in may_lack))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if not set(own) & set(state):
        raise ValueError(f"checkpoint {file}: none of its {len(state)} tensors has a name of "
                         f"{type(module).__name__} (first: {', '.join(sorted(state)[:3])})")
    if missing or unexpected or wrong:
        def few(keys: list[str]) -> str:
            return ", ".join(keys[:5]) + (f" (+{len(keys) - 5} more)" if len(keys) > 5 else "")
        raise ValueError(f"checkpoint {file} does not fit {type(module).__name__}: missing "
                         f"[{few(missing)}], unexpected [{few(unexpected)}], wrong shape "
                         f"[{few(wrong)}]")
    module.load_state_dict(state, strict=False)
    return len(state)

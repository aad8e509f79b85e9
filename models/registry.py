"""A small registry: every network family registers its builders by name, and
`create_model(name, **kwargs)` builds one, so params.yaml and the trainer can name a network
without importing its file.

    from models import create_model
    net = create_model("fr", num_classes=3)
    out = net(x)            # a ModelOutput: logits plus whatever the network's loss needs
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

_BUILDERS: dict[str, Callable[..., nn.Module]] = {}


@dataclass
class ModelOutput:
    """What a forward pass returns. `logits` (B, K) always; the rest only where the network
    makes it, so that its loss and its attention pictures can use them."""

    logits: torch.Tensor
    features: torch.Tensor | None = None                 # (B, ..., D) what a feature loss reads
    attention: dict[str, torch.Tensor] = field(default_factory=dict)   # maps / weights to show
    aux: dict[str, torch.Tensor] = field(default_factory=dict)         # extra loss inputs


def register(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: `@register("fr")` above a builder function or an nn.Module class."""
    def add(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _BUILDERS:
            raise ValueError(f"network {name!r} is registered twice")
        _BUILDERS[name] = builder
        return builder
    return add


def list_models() -> list[str]:
    return sorted(_BUILDERS)


def create_model(name: str, **kwargs) -> nn.Module:
    """Build the network registered as `name` with its constructor's keyword arguments."""
    if name not in _BUILDERS:
        raise ValueError(f"unknown network {name!r}; registered: {', '.join(list_models())}")
    return _BUILDERS[name](**kwargs)


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)

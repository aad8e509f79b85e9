"""What the two training stages (pretrain, train@<network>) share: the device and its numerics,
mixed precision, the optimiser and schedule from params, and the epoch loop.

The loop trains for a fixed number of epochs and never looks at held-out data: it is given a
function that yields the epoch's batches and returns the per-epoch training loss and accuracy,
which is all the curves in metrics/ show.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch

from pipeline.params import SGD, Adam

Batches = Callable[[int], Iterable[tuple[torch.Tensor, torch.Tensor]]]   # epoch -> (x, y) batches


def device_of() -> torch.device:
    """CUDA when present, else the CPU: the same code either way. With several GPUs the
    process takes one no other Glimpse process holds (pipeline/gpus.py)."""
    if not torch.cuda.is_available():
        return torch.device("cpu")
    from pipeline.gpus import claim_gpu

    return torch.device(f"cuda:{claim_gpu(torch.cuda.device_count())}")


def use_device(device: torch.device, threads: int, deterministic: bool = True) -> None:
    """The device's numerics. CPU: deterministic kernels with `threads` intra-op threads (small
    inputs run fastest on one: more mostly add synchronisation, measured 2.5x slower with 2
    threads than 1 on a 2-core machine). CUDA: with `deterministic`, cuDNN's deterministic
    algorithms and no autotuning (the same run gives the same weights, somewhat slower);
    without, cuDNN picks the fastest kernels for each shape."""
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.set_num_threads(threads)
        return
    torch.cuda.set_device(device)
    torch.backends.cudnn.benchmark = not deterministic
    torch.backends.cudnn.deterministic = deterministic
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cuda.matmul.allow_tf32 = not deterministic
    torch.backends.cudnn.allow_tf32 = not deterministic


@dataclass(frozen=True)
class Precision:
    """How a step runs: autocast to `dtype` when enabled, with loss scaling for float16 (whose
    small gradients underflow without it; bfloat16 has float32's range and needs none)."""

    enabled: bool
    dtype: torch.dtype = torch.float32
    scaled: bool = False


def precision_for(device: torch.device, amp: bool, dtype: str) -> Precision:
    """params' `amp` and `amp_dtype` on this device. `auto`: bfloat16 on a GPU that supports it,
    float16 with a GradScaler on one that does not, full precision on the CPU (bfloat16 there
    is slower than float32 without AMX); `bfloat16` / `float16` force that type (on the CPU only
    bfloat16 is allowed)."""
    if not amp:
        return Precision(False)
    if device.type == "cuda":
        if dtype == "auto":
            dtype = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
        return Precision(True, getattr(torch, dtype), scaled=dtype == "float16")
    if dtype == "float16":
        raise ValueError("amp_dtype float16 needs a GPU; use bfloat16 or auto on the CPU")
    return Precision(True, torch.bfloat16) if dtype == "bfloat16" else Precision(False)


def make_optimizer(net: torch.nn.Module, opt: SGD | Adam
                   ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.StepLR]:
    """The optimiser and its step schedule (lr x gamma every step_epochs) from params."""
    if isinstance(opt, SGD):
        optimizer: torch.optim.Optimizer = torch.optim.SGD(
            net.parameters(), lr=opt.lr, momentum=opt.momentum, weight_decay=opt.weight_decay)
    else:
        optimizer = torch.optim.Adam(net.parameters(), lr=opt.lr, weight_decay=opt.weight_decay)
    return optimizer, torch.optim.lr_scheduler.StepLR(optimizer, opt.step_epochs, opt.gamma)


def fit(net: torch.nn.Module, opt: SGD | Adam, epochs: int, batches: Batches,
        device: torch.device, precision: Precision = Precision(False),
        on_epoch: Callable[[dict], None] | None = None) -> list[dict]:
    """Train `net` (its own `loss`) for `epochs` epochs; returns [{epoch, loss, accuracy}].

    `batches(epoch)` yields (x, y) tensors (moved to `device` if they are not there yet);
    `precision` says whether steps run under autocast, and with a gradient scaler. `on_epoch`
    sees each epoch's row as it finishes (progress bars)."""
    net.to(device)
    optimizer, schedule = make_optimizer(net, opt)
    scaler = torch.amp.GradScaler(device.type, enabled=precision.scaled)
    curve = []
    for epoch in range(epochs):
        net.train()
        total = torch.zeros((), device=device, dtype=torch.float64)   # summed on the device:
        correct = torch.zeros((), device=device, dtype=torch.int64)   # no sync per step
        seen = 0
        for x, y in batches(epoch):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=precision.dtype, enabled=precision.enabled):
                out = net(x)
                loss, _ = net.loss(out, y)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            total += loss.detach().double() * len(y)
            correct += (out.logits.argmax(1) == y).sum()
            seen += len(y)
        schedule.step()
        curve.append({"epoch": epoch + 1, "loss": float(total) / max(seen, 1),
                      "accuracy": int(correct) / max(seen, 1)})
        if on_epoch is not None:
            on_epoch(curve[-1])
    return curve


def batch_order(n: int, size: int, rng: np.random.Generator,
                order: np.ndarray | None = None) -> list[np.ndarray]:
    """An epoch's batches of indices: `order` (default a permutation of n) cut into `size`
    pieces, without a last piece of one sample when there are more (BatchNorm needs two)."""
    order = rng.permutation(n) if order is None else order
    pieces = [order[i:i + size] for i in range(0, len(order), size)]
    return [p for p in pieces if len(p) >= 2 or len(order) <= 1]

"""What the two training stages (pretrain, train@<network>) share: the device and its numerics,
the optimiser and schedule from params, and the epoch loop.

The loop trains for a fixed number of epochs and never looks at held-out data: it is given a
function that yields the epoch's batches and returns the per-epoch training loss and accuracy,
which is all the curves in metrics/ show.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import torch

from pipeline.params import SGD, Adam

Batches = Callable[[int], Iterable[tuple[torch.Tensor, torch.Tensor]]]   # epoch -> (x, y) batches


def device_of() -> torch.device:
    """CUDA when present, else the CPU: the same code either way."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def use_device(device: torch.device, threads: int) -> None:
    """Deterministic kernels on the CPU, with `threads` intra-op threads. Small inputs run
    fastest on one: more mostly add synchronisation (measured 2.5x slower with 2 threads than
    1 on a 2-core machine); paper-sized inputs may want more."""
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.set_num_threads(threads)


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
        device: torch.device, amp: bool = False,
        on_epoch: Callable[[dict], None] | None = None) -> list[dict]:
    """Train `net` (its own `loss`) for `epochs` epochs; returns [{epoch, loss, accuracy}].

    `batches(epoch)` yields (x, y) CPU tensors; `amp` enables mixed precision on CUDA only.
    `on_epoch` sees each epoch's row as it finishes (progress bars)."""
    net.to(device)
    optimizer, schedule = make_optimizer(net, opt)
    amp = amp and device.type == "cuda"
    curve = []
    for epoch in range(epochs):
        net.train()
        total, correct, seen = 0.0, 0, 0
        for x, y in batches(epoch):
            x, y = x.to(device), y.to(device)
            with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
                out = net(x)
                loss, _ = net.loss(out, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(y)
            correct += int((out.logits.argmax(1) == y).sum())
            seen += len(y)
        schedule.step()
        curve.append({"epoch": epoch + 1, "loss": total / max(seen, 1),
                      "accuracy": correct / max(seen, 1)})
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

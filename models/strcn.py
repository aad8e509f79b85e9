"""STRCN: spatiotemporal recurrent convolutional networks (Xia et al., IEEE TMM 2020).

One network, two inputs (the paper's "temporal connectivities"), registered as two builders:

- ``strcn_a`` (appearance): the EVM-magnified clip, masked to the micro-expression-aware pixels
  and flattened to a (P, T) matrix, P masked pixels x T = 30 frames, fed as a (B, C, P, T) image.
  The paper treats the pixel axis exactly like an image height: conv1 (5x5) and the recurrent
  3x3 convs slide along it, so a "neighbour" is the next masked pixel in the order the pixels
  are stacked (MATLAB's column-major `I(mask)` in the authors' code: the pixel below, unless the
  mask skips it), Pool1/Pool2 (4x1) shrink only this axis while the 30 frames are kept, and
  the final global average pool "with alterable size" absorbs whatever P the mask gives. Table I
  writes the input as d1 x T x 3 (a typo for d2, the masked count, and three colour channels);
  the project feeds grey frames, so ``in_channels`` defaults to 1.
- ``strcn_g`` (geometric): the onset -> apex optical flow, (B, 2, H, W); paper 300 x 245.

Layers (paper Table I; "All the convolutional layers contain M feature maps"):
conv1 5x5 (pad 0) -> Pool1 -> RCL2 -> Pool2 -> RCL3 -> Pool3 -> RCL4 -> Pool4 -> RCL5 ->
global average pool -> linear classifier. Every conv is bias-free, followed by BN + ReLU (paper
Sec. IV-A; the authors' MatConvNet `Conv` helper). Pools are max pools with kernel = stride:
A: 4x1, 4x1, 4x4, 2x2; G: 4x4, 4x4, 4x4, 2x2. MatConvNet floors the output size and refuses a
map smaller than the kernel; here a kernel larger than the map is clamped to the map (that axis
pools to 1), so the paper's sizes give MatConvNet's shapes and smaller inputs (60 x 49, 28 x 28)
still run. The smallest input is 5 x 5 (conv1 has no padding).

Fewer RCLs (`num_rcl` < 4, the paper's Fig. 6 ablation) removes RCL5, RCL4, ... "in sequence",
together with the pool in front of each removed RCL; `steps=0` leaves each RCL its 1x1
feed-forward conv only, the paper's "zero recurrent layer" reading.

The loss is the paper's multi-class balanced loss (Eq. 10), see `balanced_weights`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.registry import Card, ModelOutput, register

POOLS_A = ((4, 1), (4, 1), (4, 4), (2, 2))      # Table I, STRCN-A: Pool1..Pool4 (pixels, frames)
POOLS_G = ((4, 4), (4, 4), (4, 4), (2, 2))      # Table I, STRCN-G: Pool1..Pool4 (H, W)


class ConvBNReLU(nn.Sequential):
    """Bias-free conv + BN + ReLU: the unit every STRCN conv is built from (BN makes a bias
    redundant, and the authors' code has none)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, padding: int) -> None:
        super().__init__(nn.Conv2d(in_channels, out_channels, kernel, padding=padding, bias=False),
                         nn.BatchNorm2d(out_channels),
                         nn.ReLU(inplace=True))


class ClampedMaxPool(nn.Module):
    """Max pool with kernel = stride, floor-sized like MatConvNet; a kernel larger than the map
    is clamped to the map, so small inputs pool that axis to 1 instead of failing."""

    def __init__(self, kernel: tuple[int, int]) -> None:
        super().__init__()
        self.kernel = kernel

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = (min(self.kernel[0], x.shape[-2]), min(self.kernel[1], x.shape[-1]))
        return F.max_pool2d(x, kernel_size=k, stride=k)         # (B, M, H // kh, W // kw)

    def extra_repr(self) -> str:
        return f"kernel={self.kernel}"


class RCL(nn.Module):
    """Recurrent convolutional layer (Liang & Hu 2015, as STRCN uses it), unrolled `steps` times.

    With u the layer input and x(n) the state (every BN has its own statistics per step, since
    the state's distribution changes from step to step):

    - ``shared_recurrent=False`` (default; the authors' MatConvNet code, `strcnInit*.m`):
      x(0) = ReLU(BN0(W_f * u)) with W_f 1x1; x(n) = ReLU(BN_n(W_n * (x(n-1) + u))) with a
      separate 3x3 kernel W_n per step: the code adds the layer input to the state (a `Sum`
      layer) before each recurrent conv, so the feed-forward input reaches every step through
      that step's own kernel.
    - ``shared_recurrent=True`` (the paper's Eq. 6, Liang & Hu's RCL): x(0) = ReLU(BN0(W_f * u));
      x(n) = ReLU(BN_n(W_f * u + W_r * x(n-1))) with ONE 3x3 recurrent kernel W_r for all steps.

    The released code unrolls layerDepth = 3 convs (1x1 + two 3x3); Table I says "1 feed-forward
    + 3 recurrents", which `steps=3` follows (`steps=2` gives the code's depth).
    """

    def __init__(self, channels: int, steps: int, shared_recurrent: bool) -> None:
        super().__init__()
        self.steps = steps
        self.shared_recurrent = shared_recurrent
        self.feed_forward = nn.Conv2d(channels, channels, 1, bias=False)
        n_kernels = min(steps, 1) if shared_recurrent else steps
        self.recurrent = nn.ModuleList(nn.Conv2d(channels, channels, 3, padding=1, bias=False)
                                       for _ in range(n_kernels))
        self.norms = nn.ModuleList(nn.BatchNorm2d(channels) for _ in range(steps + 1))

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        ff = self.feed_forward(u)                               # (B, M, H, W)
        x = F.relu(self.norms[0](ff))                           # (B, M, H, W) state x(0)
        for n in range(1, self.steps + 1):
            if self.shared_recurrent:
                z = ff + self.recurrent[0](x)                   # (B, M, H, W) Eq. 6
            else:
                z = self.recurrent[n - 1](x + u)                # (B, M, H, W) code's Sum -> conv
            x = F.relu(self.norms[n](z))                        # (B, M, H, W) state x(n)
        return x


class STRCN(nn.Module):
    """conv1 -> pool -> RCLs with Table I's pools between them -> global average -> classifier.

    `pools` is Table I's Pool1..Pool4 column for the input kind (the registered builders pass
    it); `feature_maps` is M (grid-searched in the paper, 128 in the later released code).
    """

    def __init__(self, in_channels: int, num_classes: int, pools: tuple[tuple[int, int], ...],
                 feature_maps: int = 128, num_rcl: int = 4, steps: int = 3,
                 shared_recurrent: bool = False, balanced: bool = True) -> None:
        super().__init__()
        if not 1 <= num_rcl <= len(pools):
            raise ValueError(f"num_rcl must be in 1..{len(pools)} (Table I has RCL2..RCL5)")
        self.balanced = balanced
        m = feature_maps
        layers: list[nn.Module] = [ConvBNReLU(in_channels, m, kernel=5, padding=0),   # conv1
                                   ClampedMaxPool(pools[0])]                           # Pool1
        for r in range(num_rcl):
            if r > 0:
                layers.append(ClampedMaxPool(pools[r]))     # Pool2..Pool4, in front of RCL3..5
            layers.append(RCL(m, steps, shared_recurrent))
        self.body = nn.Sequential(*layers)
        self.classifier = nn.Linear(m, num_classes)

    def forward(self, x: torch.Tensor) -> ModelOutput:
        maps = self.body(x)                                     # (B, M, h, w)
        features = maps.mean(dim=(2, 3))                        # (B, M) Pool5: global average
        return ModelOutput(logits=self.classifier(features),    # (B, K)
                           features=features)

    def loss(self, out: ModelOutput, target: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """The paper's multi-class balanced loss (Eq. 10), averaged over the batch; with
        `balanced=False` every weight is 1 (the paper's "without BL" ablation) = plain CE."""
        per_sample = F.cross_entropy(out.logits, target, reduction="none")      # (B,)
        if self.balanced:
            total = (balanced_weights(target) * per_sample).mean()
        else:
            total = per_sample.mean()
        return total, {"loss": float(total.detach()), "ce": float(per_sample.detach().mean())}


def balanced_weights(target: torch.Tensor) -> torch.Tensor:
    """Per-sample weights beta_i of STRCN's balanced loss, inversely proportional to the ratio
    of sample i's class IN THIS BATCH (the paper's wording), normalised to average 1:

        beta_i = B / (C_b * n_{y_i})

    B the batch size, n_c the count of class c in the batch, C_b the number of classes present.
    1 / ratio = B / n_c; dividing by its batch mean, (1/B) sum_i B / n_{y_i} = C_b, gives the
    formula, and every class present then carries the same total weight B / C_b. Labels
    [0, 0, 0, 1] -> [2/3, 2/3, 2/3, 2]. Averaging (the paper sums) keeps the loss on the scale
    of plain CE, so the learning rate means the same with and without balancing.
    """
    classes, inverse, counts = torch.unique(target, return_inverse=True, return_counts=True)
    return target.numel() / (classes.numel() * counts[inverse].to(torch.float32))   # (B,)


@register("strcn_a", Card(input_shape=("in_channels", None, None), paper_input=(1, 922, 30),
                           section="baselines.strcn_a", inputs="MaskedMatrix"))
def strcn_a(num_classes: int = 3, in_channels: int = 1, feature_maps: int = 128,
            num_rcl: int = 4, steps: int = 3, shared_recurrent: bool = False,
            balanced: bool = True) -> STRCN:
    """STRCN-A: input (B, in_channels, P, T), any P (masked pixels) and T (30 in the paper)."""
    return STRCN(in_channels, num_classes, POOLS_A, feature_maps=feature_maps, num_rcl=num_rcl,
                 steps=steps, shared_recurrent=shared_recurrent, balanced=balanced)


@register("strcn_g", Card(input_shape=("in_channels", None, None), paper_input=(2, 300, 245),
                           section="baselines.strcn_g", inputs="MagnifiedFlow"))
def strcn_g(num_classes: int = 3, in_channels: int = 2, feature_maps: int = 128,
            num_rcl: int = 4, steps: int = 3, shared_recurrent: bool = False,
            balanced: bool = True) -> STRCN:
    """STRCN-G: input (B, 2, H, W) onset -> apex flow; paper 300 x 245, anything >= 5 x 5 runs."""
    return STRCN(in_channels, num_classes, POOLS_G, feature_maps=feature_maps, num_rcl=num_rcl,
                 steps=steps, shared_recurrent=shared_recurrent, balanced=balanced)

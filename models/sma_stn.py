"""SMA-STN (Segmented Movement-Attending SpatioTemporal Network; AAAI 2021) and its DE-Loss.

A clip arrives as four dynamic images (DSSI, pipeline/rankpool.py): I0 of (onset, middle, offset)
and I1..I3 of three snippets across the expression. One ResNet18 looks at all four; an
embedded-Gaussian non-local block, shared across the four, lets every position of a face see
every other (an expression is judged from several action units at once); global average pooling
gives one feature F_i per image; a learned vector q scores the four images (which segment moved)
and their weighted sum F_m is classified. The DE-Loss pushes the six pairwise distances between
the F_i apart in shape (a larger standard deviation relative to their range), so that the four
segments do not collapse onto one feature.

    x (B, 4, 3, H, W) -> ResNet18 (shared) -> non-local (shared) -> avg-pool -> F (B, 4, 512)
      -> alpha = softmax_i(sigmoid(F_i . q)) -> F_m = sum_i alpha_i F_i -> FC -> logits (B, K)

Where the paper is silent (see also the module's tests and docs/):
- backbone: torchvision's ResNet18 layout and parameter names (so a local ResNet18 state dict
  loads as is, its "fc.*" head left out); He (fan-out) init. The paper's face-attention pre-training is not available
  offline: the default trains from scratch, `backbone_checkpoint` loads a local state dict.
- non-local block: no sub-sampling of phi/g (the layer-4 map is only 7x7 at 224 px), 1x1 convs
  with biases as in Wang et al.'s reference code.
- q: a bias-free FC 512 -> 1 (Eq. 7 has no bias), PyTorch's default Linear init.
- dropout before the classifier: the paper does not mention one; default 0 (off).
- DE-Loss: sample standard deviation and the guards described at `de_loss`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.registry import Card, ModelOutput, load_weights, register

# The 6 pairs (i < j) of the 4 segment features, in the order (0,1) (0,2) (0,3) (1,2) (1,3) (2,3).
PAIRS_I, PAIRS_J = torch.triu_indices(4, 4, offset=1)
DE_EPS = 1e-6   # guard of the DE-Loss against zero distances and a zero range (see `de_loss`)


# --------------------------------------------------------------------------- ResNet18 backbone

class BasicBlock(nn.Module):
    """He et al.'s post-activation basic block: two 3x3 convs, identity or 1x1/BN projection."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.downsample = None
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False),
                                            nn.BatchNorm2d(out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)  # (N, C_out, h, w)
        out = F.relu(self.bn1(self.conv1(x)))                              # (N, C_out, h, w)
        out = self.bn2(self.conv2(out))                                    # (N, C_out, h, w)
        return F.relu(out + shortcut)


class ResNet18Backbone(nn.Module):
    """ResNet18 without its pooling and classifier: (N, 3, H, W) -> (N, 512, H/32, W/32).

    Parameter names follow torchvision's `resnet18` (conv1, bn1, layer1.0.conv1, ...), so that a
    ResNet18 state dict saved elsewhere loads with `load_state_dict` unchanged."""

    def __init__(self, width: int = 64):
        """width: channels of the first stage (64 in ResNet18; the stages have width x 1, 2,
        4, 8). A narrower trunk is a CPU-budget option, not the paper's network."""
        super().__init__()
        w = width
        self.out_channels = 8 * w
        self.conv1 = nn.Conv2d(3, w, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = nn.Sequential(BasicBlock(w, w), BasicBlock(w, w))
        self.layer2 = nn.Sequential(BasicBlock(w, 2 * w, 2), BasicBlock(2 * w, 2 * w))
        self.layer3 = nn.Sequential(BasicBlock(2 * w, 4 * w, 2), BasicBlock(4 * w, 4 * w))
        self.layer4 = nn.Sequential(BasicBlock(4 * w, 8 * w, 2), BasicBlock(8 * w, 8 * w))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))  # (N, w, H/4, W/4)
        x = self.layer2(self.layer1(x))                    # (N, 2w, H/8, W/8)
        return self.layer4(self.layer3(x))                 # (N, 8w, H/32, W/32); 8w = 512


# --------------------------------------------------------------------------- attention modules

class NonLocalBlock(nn.Module):
    """Embedded-Gaussian non-local block (Wang et al. 2018), SMA-STN Eq. 5.

    y_i = sum_j softmax_j(theta(x_i) . phi(x_j)) g(x_j);  z = BN(W_z y) + x.
    theta, phi, g are 1x1 convs C -> C/2; W_z is a 1x1 conv C/2 -> C followed by BN whose scale
    starts at zero, so the block starts as the identity and the pre-trained (or freshly
    initialised) backbone is not disturbed at the first step (Wang et al., Sec. 4.1). One
    consequence: at initialisation theta, phi, g and W_z's conv receive exactly zero gradient;
    they start learning once the BN scale has moved."""

    def __init__(self, channels: int):
        super().__init__()
        inner = channels // 2
        self.theta = nn.Conv2d(channels, inner, 1)
        self.phi = nn.Conv2d(channels, inner, 1)
        self.g = nn.Conv2d(channels, inner, 1)
        self.w_z = nn.Sequential(nn.Conv2d(inner, channels, 1), nn.BatchNorm2d(channels))
        nn.init.zeros_(self.w_z[1].weight)
        nn.init.zeros_(self.w_z[1].bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (N, C, h, w) -> (z (N, C, h, w), affinity (N, hw, hw), rows summing to 1)."""
        n, _, h, w = x.shape
        theta = self.theta(x).flatten(2).transpose(1, 2)  # (N, hw, C/2)
        phi = self.phi(x).flatten(2)                      # (N, C/2, hw)
        g = self.g(x).flatten(2).transpose(1, 2)          # (N, hw, C/2)
        affinity = torch.softmax(theta @ phi, dim=-1)     # (N, hw, hw)
        y = (affinity @ g).transpose(1, 2).reshape(n, -1, h, w)  # (N, C/2, h, w)
        return self.w_z(y) + x, affinity                  # (N, C, h, w)


def de_loss(features: torch.Tensor, eps: float = DE_EPS) -> torch.Tensor:
    """Deviation-enhancement loss per sample (SMA-STN Eqs. 9-11), (B, 4, D) -> (B,).

    D_ij = ||F_i - F_j||_2 for the 6 pairs i < j; D_norm = (D - mean D) / (max D - min D);
    L_DE = 1 - std(D_norm). std is the sample standard deviation (divisor 5 for the 6 pairs):
    the paper's code is PyTorch, whose `Tensor.std()` is the unbiased estimator by default. (The
    population form would scale the std term by sqrt(5/6); same optimum, 0.91x the gradient.)

    The loss only sees the shape of the distances, not their size (D_norm is scale free): it is
    lowest (1 - sqrt(0.3) = 0.45) when half the pairs are as far apart as the farthest and half as
    close as the closest, and 1 when all six are equal.

    Guards, so that the value and its gradient stay finite when features coincide:
    - D_ij = sqrt(||F_i - F_j||^2 + eps^2): the Euclidean norm has no gradient at F_i = F_j
      (this floors a distance at eps, far below the feature scale).
    - the range is max - min + eps: all distances equal give D_norm = 0, not 0/0. Spreads much
      smaller than eps are damped toward that (rounding noise is not amplified to std ~ 0.5);
      the gradient still grows like 1/range as features collapse, as the paper's formula does.
    - std = sqrt(var) where var > 0, else exactly 0 with a zero gradient (sqrt' is infinite at 0).
    So all-equal distances give L_DE = 1 (no spread) with a zero gradient.
    """
    diff = features[:, PAIRS_I] - features[:, PAIRS_J]          # (B, 6, D)
    dist = torch.sqrt(diff.pow(2).sum(-1) + eps * eps)          # (B, 6)
    span = dist.amax(1, keepdim=True) - dist.amin(1, keepdim=True)  # (B, 1)
    norm = (dist - dist.mean(1, keepdim=True)) / (span + eps)   # (B, 6)
    var = norm.var(1, correction=1)                             # (B,)
    positive = var > 0
    std = torch.where(positive, torch.sqrt(torch.where(positive, var, torch.ones_like(var))),
                      torch.zeros_like(var))                    # (B,)
    return 1.0 - std


# --------------------------------------------------------------------------- the network

@register("sma_stn", Card(input_shape=(4, 3, None, None), paper_input=(4, 3, 224, 224),
                           section="model", inputs="DynamicImages", loss_weight="de_weight"))
class SMASTN(nn.Module):
    """SMA-STN on four dynamic images per clip: x (B, 4, 3, H, W) -> ModelOutput.

    Paper input is 224x224; any H, W >= 32 works (the last map is H/32 x W/32).
    `stma=False` is Table 4's "no STMA": no non-local block and the plain mean of the four
    features in place of the learned segment weights. `de_loss=False` trains on CE alone.
    """

    def __init__(self, num_classes: int, stma: bool = True, de_loss: bool = True,
                 de_weight: float = 0.03, dropout: float = 0.0,
                 backbone_checkpoint: str | None = None, width: int = 64):
        super().__init__()
        self.stma = stma
        self.use_de_loss = de_loss
        self.de_weight = de_weight     # lambda of Eq. 12; 0.03 is best on SMIC-HS (Fig. 6)
        self.backbone = ResNet18Backbone(width)       # width 64 = the paper's ResNet18
        if backbone_checkpoint is not None:
            load_weights(self.backbone, backbone_checkpoint)   # torchvision ResNet18 names
        dim = self.backbone.out_channels
        self.nonlocal_block = NonLocalBlock(dim) if stma else None
        self.segment_score = nn.Linear(dim, 1, bias=False) if stma else None   # q of Eq. 7
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> ModelOutput:
        if x.ndim != 5 or x.shape[1] != 4 or x.shape[2] != 3:
            raise ValueError(f"SMA-STN expects (B, 4, 3, H, W) dynamic images,"
                             f" got {tuple(x.shape)}")
        b = x.shape[0]
        maps = self.backbone(x.flatten(0, 1))                     # (B*4, 512, h, w)
        attention: dict[str, torch.Tensor] = {}
        if self.stma:
            maps, affinity = self.nonlocal_block(maps)            # (B*4, 512, h, w), (B*4, hw, hw)
            attention["nonlocal"] = affinity.unflatten(0, (b, 4))  # (B, 4, hw, hw)
        feats = maps.mean((2, 3)).unflatten(0, (b, 4))            # (B, 4, 512) F_i of Eq. 6
        if self.stma:
            scores = torch.sigmoid(self.segment_score(feats)).squeeze(-1)  # (B, 4)
            alpha = torch.softmax(scores, dim=1)                  # (B, 4)
            attention["segments"] = alpha
            fused = (alpha.unsqueeze(-1) * feats).sum(1)          # (B, 512) F_m of Eq. 8
        else:
            fused = feats.mean(1)                                 # (B, 512)
        logits = self.fc(self.dropout(fused))                     # (B, K)
        return ModelOutput(logits=logits, features=feats, attention=attention)

    def loss(self, out: ModelOutput, target: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """L = CE + lambda * L_DE (Eq. 12), L_DE averaged over the batch. With de_loss off,
        L = CE and L_DE is still reported (computed without gradient) for comparison."""
        ce = F.cross_entropy(out.logits, target)
        if self.use_de_loss:
            de = de_loss(out.features).mean()
            total = ce + self.de_weight * de
        else:
            with torch.no_grad():
                de = de_loss(out.features).mean()
            total = ce
        return total, {"loss": total.item(), "ce": ce.item(), "de": de.item()}

"""STANet: Spatial-Temporal Attention Network for micro-expression recognition (no public code;
rebuilt from the paper).

    y = G(F(X))                                   eq. 1: F = SAM per frame, G = TAM over time
    S(x_i) = (1 + m(x_i)) * L3(x_i)               eq. 2: residual soft mask on the 3rd feature map
    C = tanh(H^T H),  p_i = sum_j C_ij,  w = softmax(p)          eqs. 3-4
    T(x_i) = (1 + w_i) * f(x_i)                   eq. 5
    loss = CE + lambda * ||M(X)||_1               eq. 7, lambda = 1e-8

Input: x (B, L, 2, H, W), the optical flows between adjacent frames of the clip interpolated to
20 frames (L = 19); the paper uses 192x192, anything from 16x16 up works (32x32 on CPU).
`pipeline/flow.py` stores a clip's flows as (L, H, W, 2): permute to (L, 2, H, W) first.

The paper names only "the third feature map L3" and otherwise points to its Fig. 1, which is not
in the text. Our choices where it is silent, each marked "(ours)" at its line:
- Trunk: a small VGG-like stack of 3x3 conv + BatchNorm + ReLU: stage 1 and 2 each end in a
  2x2 max-pool, stage 3 (two convs, no pool) gives L3 at 1/4 of the input size; a 4th stage
  (max-pool, conv) and global average pooling give the frame feature f(x_i) of size D.
- The spatial attention branch (SAB) reads L2, the input of stage 3, as the mask branch of the
  residual attention network [7] reads its trunk's input, so the mask is made at L3's resolution
  without a final upsampling. The mask has one channel (a spatial mask shared by L3's channels).
- SAB depth: 2 pooling levels (1/4 -> 1/8 -> 1/16 of the input); the skip connection adds the
  bottom-up feature map of the same resolution after each bilinear upsampling, then a conv.
- Context features H: a bidirectional LSTM over the frame features (the paper cites the
  context-aware LSTM [18] for H, and h_i should see the whole sequence), D/2 units each way.
- Time aggregation: the paper does not say how T(x_1..x_L) becomes y; we take the mean over time,
  then one linear classifier. With tab=False the baseline is the plain mean of f(x_i).
- No dropout by default (the paper names none; `dropout` is there if a small database wants it).
- `affinity_scale` (default 1 = the paper) multiplies H^T H inside the tanh; see the class.
- ||M||_1: the sum of all mask values of a sample (all frames, all positions; m >= 0), then the
  mean over the batch like the CE. lambda = 1e-8 only matters with a sum: at 192x192 and L = 19
  a sample's mask has 19 * 48 * 48 = 43,776 values.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.registry import Card, ModelOutput, register


def conv_bn_relu(c_in: int, c_out: int) -> nn.Sequential:
    """3x3 conv + BatchNorm + ReLU, size-preserving: the one building block of trunk and SAB."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                         nn.ReLU(inplace=True))


class SpatialAttentionBranch(nn.Module):
    """The SAB: an hourglass (bottom-up conv + max-pool, top-down bilinear upsampling with skip
    connections, as in stacked hourglass [15]) ending in a sigmoid, so that the mask can open
    a large receptive field yet stay sharp where the face moves."""

    def __init__(self, in_channels: int, channels: int, depth: int):
        super().__init__()
        self.down = nn.ModuleList([conv_bn_relu(in_channels if i == 0 else channels, channels)
                                   for i in range(depth)])
        self.bottom = conv_bn_relu(channels, channels)
        self.up = nn.ModuleList([conv_bn_relu(channels, channels) for _ in range(depth)])
        self.mask = nn.Conv2d(channels, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for down in self.down:
            x = down(x)                                                  # (N, c, h_k, w_k)
            skips.append(x)
            x = F.max_pool2d(x, 2)                                       # (N, c, h_k/2, w_k/2)
        x = self.bottom(x)                                               # (N, c, h/2^d, w/2^d)
        for up, skip in zip(self.up, reversed(skips)):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = up(x + skip)                                             # (N, c, h_k, w_k)
        return torch.sigmoid(self.mask(x))                               # (N, 1, h, w) in [0, 1]


class TemporalAttentionBranch(nn.Module):
    """The TAB: frames whose context agrees with many others get a larger weight (eqs. 3-5).
    Returns the reweighted features and the weights w (they sum to 1 over time)."""

    def __init__(self, dim: int, affinity_scale: float):
        super().__init__()
        self.affinity_scale = affinity_scale
        self.context = nn.LSTM(dim, dim // 2, batch_first=True, bidirectional=True)  # (ours)

    def forward(self, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h, _ = self.context(f)                      # (B, L, D) row i = h_i, i.e. H^T in eq. 3
        c = torch.tanh(self.affinity_scale * h @ h.transpose(1, 2))   # (B, L, L) C = tanh(H^T H)
        w = c.sum(dim=2).softmax(dim=1)             # (B, L) p_i = sum_j C_ij, w = softmax(p)
        return (1 + w.unsqueeze(-1)) * f, w         # (B, L, D) T(x_i) = (1 + w_i) f(x_i)


@register("stanet", Card(input_shape=(None, "in_channels", None, None), paper_input=(19, 2, 192, 192),
                          section="baselines.stanet", inputs="FlowSequence", loss_weight="l1_weight"))
class STANet(nn.Module):
    """STANet with the paper's Table 2 ablation switches: `sab` (spatial attention branch),
    `tab` (temporal attention branch; off = plain mean over time) and `l1` (mask penalty,
    weight `l1_weight`). `channels` are the widths of the four trunk stages (ours); the
    last one is the feature size D. `affinity_scale` multiplies H^T H inside the tanh: 1 is the
    paper; <h_i, h_j> is already about 5 at initialisation (tanh' ~ 2e-4), so a smaller value
    such as 1/sqrt(D) keeps the affinities out of saturation if the weights w stop learning."""

    def __init__(self, num_classes: int, in_channels: int = 2,
                 channels: tuple[int, int, int, int] = (32, 64, 128, 256), sab_depth: int = 2,
                 sab: bool = True, tab: bool = True, l1: bool = True, l1_weight: float = 1e-8,
                 affinity_scale: float = 1.0, dropout: float = 0.0):
        super().__init__()
        if l1 and not sab:
            raise ValueError("l1=True penalises the spatial attention mask, which sab=False "
                             "removes; set l1=False too (the paper's baseline has neither)")
        if channels[3] % 2:
            raise ValueError(f"channels[3] = {channels[3]} must be even: the bidirectional "
                             "context LSTM gives each direction half of it")
        c1, c2, c3, c4 = channels
        self.in_channels, self.sab_depth = in_channels, sab_depth
        self.sab, self.tab, self.l1, self.l1_weight = sab, tab, l1, l1_weight
        self.stage1 = nn.Sequential(conv_bn_relu(in_channels, c1), nn.MaxPool2d(2))     # (ours)
        self.stage2 = nn.Sequential(conv_bn_relu(c1, c2), nn.MaxPool2d(2))              # (ours)
        self.stage3 = nn.Sequential(conv_bn_relu(c2, c3), conv_bn_relu(c3, c3))         # (ours)
        self.stage4 = nn.Sequential(nn.MaxPool2d(2), conv_bn_relu(c3, c4),
                                    nn.AdaptiveAvgPool2d(1), nn.Flatten())              # (ours)
        self.hourglass = SpatialAttentionBranch(c2, c2, sab_depth) if sab else None
        self.temporal = TemporalAttentionBranch(c4, affinity_scale) if tab else None
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(c4, num_classes)

    def forward(self, x: torch.Tensor) -> ModelOutput:
        smallest = 4 * 2 ** self.sab_depth
        if x.dim() != 5 or x.shape[2] != self.in_channels or min(x.shape[-2:]) < smallest:
            raise ValueError(f"STANet wants flows (B, L, {self.in_channels}, H, W) with H, W >= "
                             f"{smallest}; got {tuple(x.shape)}")
        b, t = x.shape[:2]
        l2 = self.stage2(self.stage1(x.flatten(0, 1)))       # (B*L, c2, H/4, W/4)
        l3 = self.stage3(l2)                                 # (B*L, c3, H/4, W/4)
        attention, aux = {}, {}
        if self.hourglass is not None:
            m = self.hourglass(l2)                           # (B*L, 1, H/4, W/4)
            l3 = (1 + m) * l3                                # (B*L, c3, H/4, W/4) S(x_i), eq. 2
            m = m.unflatten(0, (b, t))                       # (B, L, 1, H/4, W/4)
            attention["spatial"] = m
            aux["mask_l1"] = m.flatten(1).sum(dim=1)         # (B,) ||M(X)||_1, m >= 0
        f = self.stage4(l3).unflatten(0, (b, t))             # (B, L, D) f(x_i)
        if self.temporal is not None:
            f, w = self.temporal(f)                          # (B, L, D) T(x_i), (B, L) w
            attention["temporal"] = w
        y = f.mean(dim=1)                                    # (B, D) mean over time (ours)
        logits = self.classifier(self.dropout(y))            # (B, K)
        return ModelOutput(logits, features=y, attention=attention, aux=aux)

    def loss(self, out: ModelOutput, target: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """Eq. 7: CE + l1_weight * ||M||_1 (mean over the batch of each sample's mask sum).
        `mask_l1` (unweighted) is reported whenever there is a mask, for the logs; only
        `mask_penalty` is part of the total, and only with l1=True."""
        ce = F.cross_entropy(out.logits, target)
        total, parts = ce, {"ce": ce.item()}
        if "mask_l1" in out.aux:
            mask_l1 = out.aux["mask_l1"].mean()
            parts["mask_l1"] = mask_l1.item()
            if self.l1:
                penalty = self.l1_weight * mask_l1
                total = total + penalty
                parts["mask_penalty"] = penalty.item()
        parts["loss"] = total.item()
        return total, parts

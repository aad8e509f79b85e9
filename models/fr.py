"""Feature Refinement (FR; Zhou et al., Pattern Recognition 2022) and its backbone Basic Inception.

Input: the onset -> apex TV-L1 flow, u and v each resized to 28 x 28, stacked as (B, 2, 28, 28).
Each component has its own stream: two Inception-v1 blocks (6 then 16 filters per branch, i.e.
24 then 64 channels), each followed by a 2x2 max pool (28 -> 14 -> 7); the two flattened streams
are concatenated into the expression-shared feature z, D = 2 * 64 * 7 * 7 = 6272.

FR adds the expression proposal module: for each class k an attention unit
a_k = softmax_D(FC_k(z)), z*_k = a_k * z, and a detector (two FCs + sigmoid) trained to say
"is class k" (BCE). The refined feature z' = sum_k z*_k feeds FC -> dropout 0.5 -> FC.
L = lambda * L_prop + L_cls, lambda = 0.85.

What the paper leaves open, and the reading taken here:

- Inception blocks: every conv is followed by ReLU, the 3x3 and 5x5 branches have a 1x1
  reduction of the same width as the branch, the pool branch is a 3x3/stride-1 max pool, all
  "same" padded, no BN (the public Dual-Inception re-implementations, whose paper FR extends).
  FC hidden layers use ReLU.
- The attention FC cannot be a dense D -> D layer: that is 6272^2 = 39.3 M weights per class,
  30x Table 7's whole per-class increment (1.18 M). The simplest layer that keeps "FC on z, one
  logit per element of z" within Table 7 is a diagonal (per-element) FC, logit_d = w_d z_d + b_d:
  2D = 12,544 parameters per class; the softmax over all D elements makes the elements compete.
- Widths, solved from Table 7 (trunk convs T = 2 * (1,284 + 10,336) = 23,240):
    Basic(K) = T + (D+1) H + (H+1) K.  Basic(4) - Basic(3) = H + 1 = 0.0010 M (+-100) -> H ~ 1000;
      H = 1024 (the head of the public Dual-Inception code) gives 6,449,867 for K = 3, -0.47 %.
    FR(K) = T + K (2D + (D+1) h + h + 1) + (D+1) H2 + (H2+1) K.
      FR(4) - FR(3) = 1.1813 M = 2D + (D+1) h + h + 1 + H2 + 1 -> h ~ 186 per class, while
      FR(3) - Basic(3) = 3.7615 M = 3 x 1.2538 M needs h ~ 198 if H2 = H. The paper's three
      numbers are not exactly consistent with "FR = Basic Inception + K identical branches"
      (0.22 M of FR is left over); the closest fit needs odd widths (H = 1029, H2 = 1064,
      h = 186: all three within 0.03 %).
    The simplest reading: one classifier width H = H2 = 1024 for both networks and detector
    width h = 196 = D / 32, which puts all three counts within 0.7 %:
      Basic 3 classes 6,449,867 (-0.47 %); FR 3 classes 10,176,614 (-0.64 %);
      FR 4 classes 11,419,888 (-0.03 %).
- L_prop and L_cls average over the batch (the paper's Eqs. 4 and 7 sum over samples).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from models.registry import Card, ModelOutput, register


class InceptionBlock(nn.Module):
    """Inception-v1 block, four branches of `width` maps each: 1x1 / 1x1 -> 3x3 / 1x1 -> 5x5 /
    3x3 max pool -> 1x1, concatenated: several receptive fields at one depth, cheaply."""

    def __init__(self, in_channels: int, width: int) -> None:
        super().__init__()

        def conv(cin: int, k: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, width, k, padding=k // 2), nn.ReLU(inplace=True))

        self.branch1 = conv(in_channels, 1)
        self.branch3 = nn.Sequential(conv(in_channels, 1), conv(width, 3))
        self.branch5 = nn.Sequential(conv(in_channels, 1), conv(width, 5))
        self.branch_pool = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), conv(in_channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch3(x), self.branch5(x),
                          self.branch_pool(x)], dim=1)          # (B, 4 * width, H, W)


class TwoStreamInception(nn.Module):
    """The shared trunk of Basic Inception and FR: one stream per flow component (u, v), each
    Inception(6) -> pool -> Inception(16) -> pool, flattened and concatenated into z."""

    def __init__(self, widths: tuple[int, int] = (6, 16)) -> None:
        super().__init__()

        def stream() -> nn.Sequential:
            return nn.Sequential(InceptionBlock(1, widths[0]), nn.MaxPool2d(2),
                                 InceptionBlock(4 * widths[0], widths[1]), nn.MaxPool2d(2),
                                 nn.Flatten())

        self.u = stream()
        self.v = stream()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        zu = self.u(x[:, 0:1])                          # (B, 64 * 7 * 7) from u (B, 1, 28, 28)
        zv = self.v(x[:, 1:2])                          # (B, 64 * 7 * 7) from v
        return torch.cat([zu, zv], dim=1)               # (B, D) z, D = 6272


def feature_dim(input_size: int, widths: tuple[int, int] = (6, 16)) -> int:
    """D, the length of z, for square u/v inputs of side `input_size` (two 2x2 pools)."""
    side = input_size // 2 // 2
    return 2 * 4 * widths[1] * side * side


def classifier_head(in_features: int, hidden: int, num_classes: int,
                    dropout: float) -> nn.Sequential:
    """FC -> ReLU -> dropout -> FC, the classification module of both networks."""
    return nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(inplace=True),
                         nn.Dropout(dropout), nn.Linear(hidden, num_classes))


@register("fr", Card(input_shape=(2, "input_size", "input_size"), paper_input=(2, 28, 28),
                      section="baselines.fr", inputs="FlowField", loss_weight="proposal_weight"))
class FR(nn.Module):
    """Basic Inception's trunk + the expression proposal module + fusion by element-wise sum,
    with the paper's ablations (Table 1) as switches:

    - `proposals="attention"` (FR): z*_k = softmax_D(w_k * z + b_k) * z, the attention units
      being diagonal FCs (see the module docstring for why) held as (K, D) weight and bias;
      "fc" (FR-fc, "only uses fully-connected layers in the proposal module"): z*_k = w_k * z +
      b_k, the same FC without the softmax re-weighting; "none": no proposal module, z' = z and
      plain cross-entropy, which is Basic Inception (Tables 1(a) and 7).
    - `fusion="sum"` (FR): z' = sum_k z*_k; "concat" (FR-concatenated): z' = [z*_1, ..., z*_K],
      K * D wide.

    Each detector is FC(D -> detector_hidden) -> ReLU -> FC(-> 1) -> sigmoid. `proposal_weight`
    is lambda; 0 trains the classifier alone while the detectors still run.
    """

    def __init__(self, num_classes: int = 3, input_size: int = 28, hidden: int = 1024,
                 detector_hidden: int = 196, dropout: float = 0.5,
                 proposals: Literal["attention", "fc", "none"] = "attention",
                 fusion: Literal["sum", "concat"] = "sum", proposal_weight: float = 0.85) -> None:
        super().__init__()
        if proposals not in ("attention", "fc", "none") or fusion not in ("sum", "concat"):
            raise ValueError(f"proposals must be attention, fc or none and fusion sum or concat; "
                             f"got {proposals!r}, {fusion!r}")
        d = feature_dim(input_size)
        self.num_classes, self.input_size = num_classes, input_size
        self.proposals, self.fusion = proposals, fusion
        self.proposal_weight = proposal_weight
        self.trunk = TwoStreamInception()
        if proposals != "none":
            self.attention_weight = nn.Parameter(torch.ones(num_classes, d))  # (K, D) a_k = softmax(z)
            self.attention_bias = nn.Parameter(torch.zeros(num_classes, d))   # (K, D)  at the start
            self.detectors = nn.ModuleList(
                nn.Sequential(nn.Linear(d, detector_hidden), nn.ReLU(inplace=True),
                              nn.Linear(detector_hidden, 1))
                for _ in range(num_classes))
        width = d * num_classes if proposals != "none" and fusion == "concat" else d
        self.head = classifier_head(width, hidden, num_classes, dropout)

    def forward(self, x: torch.Tensor) -> ModelOutput:
        if x.shape[-2:] != (self.input_size, self.input_size):
            raise ValueError(f"FR was built for {self.input_size} x {self.input_size} u/v "
                             f"(input_size), got {tuple(x.shape[-2:])}")
        z = self.trunk(x)                                       # (B, D)
        if self.proposals == "none":
            return ModelOutput(logits=self.head(z), features=z)           # Basic Inception
        logits_att = z[:, None, :] * self.attention_weight + self.attention_bias   # (B, K, D)
        if self.proposals == "attention":
            a = torch.softmax(logits_att, dim=-1)               # (B, K, D) a_k, softmax over D
            z_star = a * z[:, None, :]                          # (B, K, D) z*_k = a_k * z
            attention = {"proposal": a}
        else:
            z_star, attention = logits_att, {}                  # (B, K, D) z*_k = FC_k(z)
        det_logits = torch.cat([det(z_star[:, k]) for k, det in enumerate(self.detectors)],
                               dim=1)                           # (B, K)
        if self.fusion == "sum":
            z_fused = z_star.sum(dim=1)                         # (B, D) z' = sum_k z*_k
        else:
            z_fused = z_star.flatten(1)                         # (B, K * D) [z*_1, ..., z*_K]
        return ModelOutput(logits=self.head(z_fused),           # (B, K)
                           features=z_fused, attention=attention,
                           aux={"detector": torch.sigmoid(det_logits),   # (B, K) p(is class k)
                                "detector_logits": det_logits})          # (B, K) for a stable BCE

    def loss(self, out: ModelOutput, target: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """L = lambda * L_prop + L_cls (Eq. 8); L_prop = mean over k of detector k's BCE on the
        one-vs-rest label "is class k" (Eqs. 4-5); L_cls the softmax cross-entropy (Eq. 7).
        Without proposals (Basic Inception) L = L_cls."""
        cls = F.cross_entropy(out.logits, target)
        if "detector_logits" not in out.aux:
            return cls, {"loss": float(cls.detach()), "cls": float(cls.detach())}
        is_class = F.one_hot(target, self.num_classes).to(out.logits.dtype)         # (B, K)
        bce = F.binary_cross_entropy_with_logits(out.aux["detector_logits"], is_class,
                                                 reduction="none").mean(dim=0)      # (K,)
        prop = bce.mean()
        total = self.proposal_weight * prop + cls
        return total, {"loss": float(total.detach()), "prop": float(prop.detach()),
                       "cls": float(cls.detach())}


@register("basic_inception", Card(input_shape=(2, "input_size", "input_size"), paper_input=(2, 28, 28)))
def basic_inception(num_classes: int = 3, input_size: int = 28, hidden: int = 1024,
                    dropout: float = 0.5) -> FR:
    """FR's backbone alone, z -> FC -> dropout -> FC with cross-entropy: FR without its
    proposal module (in the pipeline: `baselines.fr.net.proposals: none`). The baseline Table 7
    and the ablation compare FR against."""
    return FR(num_classes, input_size, hidden, dropout=dropout, proposals="none")

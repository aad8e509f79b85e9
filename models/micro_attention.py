"""Micro-Attention (Wang, Peng, Bi, Chen; Neurocomputing 2020) and its plain "ResNet10".

Micro-expressions move a few small facial regions, and the databases are tiny. The paper adds to
every residual block a spatial attention map built almost for free from features the block
already computes: the shortcut, the first conv's activation and the second conv's output
(receptive fields 1x1, 3x3, 5x5) are concatenated, mixed by one 1x1 conv and averaged over
channels into one map M, and the block's output F is re-weighted as F * (1 + M): attended
places are amplified, nothing is ever switched off.

"ResNet10" is the authors' Caffe definition (methods.md, "Micro-Attention"): a pre-activation
ResNet with ONE basic block per stage, on one grey channel.

    x (B, 1, H, W) -> conv 7x7/2 64 -> BN-ReLU -> maxpool 3x3/2      (B, 64, H/4, W/4)
      -> block 64 -> block 128 /2 -> block 256 /2 -> block 512 /2    (B, 512, H/32, W/32)
      -> BN-ReLU -> global avg-pool -> FC -> logits (B, K)

Parameter count (trainable), which pins the definition down (paper Table 3: 4.9 M and 5.9 M;
methods.md: 4.90 M and 5.94 M). Convs have no bias (each feeds a BN or a residual sum, as in the
Caffe ResNets); BN has a scale and a shift per channel (Caffe's BatchNorm + Scale pair; the
running mean / variance are buffers, not parameters).
    stem conv 1*64*49                                              3,136
    block 64:   2 * 3x3 64->64                                    73,728
    block 128:  3x3 64->128 + 3x3 128->128 + 1x1/2 proj 64->128  229,376
    block 256:  same pattern                                     917,504
    block 512:  same pattern                                   3,670,016
    BN: stem 64, block 64 (mid 64), blocks 128/256/512 (pre C/2 + mid C), head 512
        = 1,984 channels * 2                                       3,968
    FC 512 -> 5 + bias                                             2,565
    ResNet10 total at 5 classes                                4,900,293  (4.90 M)
    + attention 1x1 convs 3C -> C: 3 * (64^2 + 128^2 + 256^2 + 512^2) = 1,044,480
    Micro-Attention total at 5 classes                         5,944,773  (5.94 M)
    (+ 960 frozen channel-mean weights, not trainable)
5 classes: the paper pre-trains on "5 macro-expression types" and fine-tunes on the same 5
objective classes; every class adds only 513 parameters, so 3 (SMIC) to 7 classes all round to
the same 4.90 M / 5.94 M.

Where the Caffe definition is not spelled out in methods.md or the paper:
- the first block (64) has no pre-activation of its own: the stem already ends in BN-ReLU (the
  usual pre-activation layout, fb.resnet.torch "first" block, cvjena's Caffe ResNet-10); the
  count above, with BN on 1,984 channels, assumes that (a second BN would add 128 and still
  round to 4.90 M).
- at stage transitions the projection shortcut reads the pre-activated input (BN-ReLU shared by
  both branches, He et al. 2016 "Identity mappings"); elsewhere the shortcut is the raw input.
- init: He normal (fan-out) for every conv, attention convs included; BN scale 1, shift 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.registry import Card, ModelOutput, load_weights, register


class MicroAttentionUnit(nn.Module):
    """M = sigmoid(mean_c(W * [shortcut, act1, conv2])): a (B, 1, H, W) map from a block's own
    multi-scale features. The channel mean is a frozen 1x1 conv C -> 1 with weights 1/C, as in
    the Caffe definition (a fixed layer there too), so it never trains."""

    def __init__(self, channels: int):
        super().__init__()
        self.embed = nn.Conv2d(3 * channels, channels, 1, bias=False)
        self.mean = nn.Conv2d(channels, 1, 1, bias=False)
        nn.init.constant_(self.mean.weight, 1.0 / channels)
        self.mean.weight.requires_grad_(False)

    def forward(self, shortcut: torch.Tensor, act1: torch.Tensor,
                conv2: torch.Tensor) -> torch.Tensor:
        cat = torch.cat([shortcut, act1, conv2], dim=1)   # (B, 3C, H, W)
        return torch.sigmoid(self.mean(self.embed(cat)))   # (B, 1, H, W)


class PreActBlock(nn.Module):
    """Pre-activation basic block, optionally with a micro-attention unit.

    F = shortcut + conv2(ReLU(BN(conv1(pre)))), pre = ReLU(BN(x)) (x itself in the first block);
    the output is F, or F * (1 + M) with attention."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, preact: bool, attention: bool):
        super().__init__()
        self.preact = nn.Sequential(nn.BatchNorm2d(in_ch), nn.ReLU()) if preact else None
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.proj = None
        if stride != 1 or in_ch != out_ch:
            self.proj = nn.Conv2d(in_ch, out_ch, 1, stride, bias=False)
        self.attn = MicroAttentionUnit(out_ch) if attention else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        pre = x if self.preact is None else self.preact(x)          # (B, C_in, H, W)
        shortcut = x if self.proj is None else self.proj(pre)       # (B, C, H/s, W/s)
        act1 = F.relu(self.bn1(self.conv1(pre)))                    # (B, C, H/s, W/s)
        res = self.conv2(act1)                                      # (B, C, H/s, W/s)
        out = shortcut + res                                        # (B, C, H/s, W/s)
        if self.attn is None:
            return out, None
        m = self.attn(shortcut, act1, res)                          # (B, 1, H/s, W/s)
        return out * (1 + m), m


class MicroAttentionNet(nn.Module):
    """Pre-activation ResNet10 on a grey apex frame, with (`attention=True`, the paper's network)
    or without (`attention=False`, "Residual Network [17]" of Table 3) micro-attention units.

    x (B, 1, H, W); the paper uses 224x224, any H, W >= 32 works. The attention maps of the four
    blocks come back in `ModelOutput.attention` as "stage1".."stage4", (B, 1, H/4 .. H/32, ...).

    `checkpoint`: a local state dict of the plain network (its macro-expression pre-training,
    paper Fig. 3) or of this same variant. Its classifier ("fc.*") is never loaded (the task's
    classes are new); attention weights may be absent (they are new at fine-tuning); any other
    missing, unexpected or mis-shaped key raises a ValueError. Nothing is downloaded.
    """

    def __init__(self, num_classes: int, attention: bool = True, in_channels: int = 1,
                 checkpoint: str | None = None, width: int = 64):
        super().__init__()
        self.attention = attention
        # width: the first stage's channels; 64 is the paper's network (stages 64/128/256/512);
        # narrower is a CPU-budget option whose parameter count no longer matches Table 3.
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 7, 2, 3, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(3, 2, 1))
        widths = [width, 2 * width, 4 * width, 8 * width]
        self.blocks = nn.ModuleList(
            PreActBlock(cin, cout, 1 if i == 0 else 2, preact=i > 0, attention=attention)
            for i, (cin, cout) in enumerate(zip([width] + widths[:-1], widths)))
        self.head_bn = nn.BatchNorm2d(8 * width)
        self.fc = nn.Linear(8 * width, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d) and m.weight.requires_grad:
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if checkpoint is not None:
            load_weights(self, checkpoint, skip=("fc.",), may_lack=(".attn.",))

    def forward(self, x: torch.Tensor) -> ModelOutput:
        if x.ndim != 4:
            raise ValueError(f"Micro-Attention expects (B, C, H, W) images, got {tuple(x.shape)}")
        h = self.stem(x)                                   # (B, 64, H/4, W/4)
        maps: dict[str, torch.Tensor] = {}
        for i, block in enumerate(self.blocks, start=1):
            h, m = block(h)                                # (B, C_i, H/2^(i+1), W/2^(i+1))
            if m is not None:
                maps[f"stage{i}"] = m                      # (B, 1, H/2^(i+1), W/2^(i+1))
        feats = F.relu(self.head_bn(h)).mean((2, 3))       # (B, 512)
        return ModelOutput(logits=self.fc(feats), features=feats, attention=maps)

    def loss(self, out: ModelOutput, target: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """Plain cross-entropy, the paper's only training loss."""
        ce = F.cross_entropy(out.logits, target)
        return ce, {"loss": ce.item(), "ce": ce.item()}


register("micro_attention", Card(input_shape=("in_channels", None, None), paper_input=(1, 224, 224),
                                 section="baselines.micro_attention", inputs="ApexFrame"))(MicroAttentionNet)


@register("resnet10", Card(input_shape=("in_channels", None, None), paper_input=(1, 224, 224)))
def resnet10(num_classes: int, in_channels: int = 1, checkpoint: str | None = None,
             width: int = 64) -> MicroAttentionNet:
    """The same network without attention units (the paper's baseline, Table 3's 4.9 M)."""
    return MicroAttentionNet(num_classes, attention=False, in_channels=in_channels,
                             checkpoint=checkpoint, width=width)

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

from typing import Literal

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


class ComplexAttentionUnit(nn.Module):
    """The "Residual Network with complex attention" of the paper's Tables 3-6 (its ref. [29],
    Peng, Wang & Chen 2018, after Wang et al.'s residual attention network): a soft mask branch
    of its own beside each block's trunk, M = sigmoid(conv1x1(up(unit(maxpool(x))))), one
    pre-activation basic unit at half resolution and bilinear upsampling, a (B, C, H, W) mask
    (one per channel). The paper gives no definition; this, the simplest bottom-up/top-down
    branch, costs 19 C^2 per block and puts the network at 11.5 M parameters against Table 3's
    11.2 M. Unlike the micro-attention unit it reuses none of the block's own features, which is
    the paper's point."""

    def __init__(self, channels: int):
        super().__init__()
        c = channels
        self.unit = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(), nn.Conv2d(c, c, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(c), nn.ReLU(), nn.Conv2d(c, c, 3, 1, 1, bias=False))
        self.out = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(), nn.Conv2d(c, c, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        down = F.max_pool2d(x, 2, ceil_mode=True)                    # (B, C, H/2, W/2)
        down = down + self.unit(down)                                # (B, C, H/2, W/2)
        up = F.interpolate(down, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return torch.sigmoid(self.out(up))                           # (B, C, H, W)


class PreActBlock(nn.Module):
    """Pre-activation basic block, optionally with an attention unit.

    F = shortcut + conv2(ReLU(BN(conv1(pre)))), pre = ReLU(BN(x)) (x itself in the first block);
    the output is F, or F * (1 + M) with attention: the micro-attention unit's (B, 1, H, W) map,
    or the complex attention branch's (B, C, H, W) mask read from F."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, preact: bool,
                 attention: Literal["micro", "complex", "none"]):
        super().__init__()
        self.preact = nn.Sequential(nn.BatchNorm2d(in_ch), nn.ReLU()) if preact else None
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.proj = None
        if stride != 1 or in_ch != out_ch:
            self.proj = nn.Conv2d(in_ch, out_ch, 1, stride, bias=False)
        self.attn = MicroAttentionUnit(out_ch) if attention == "micro" else None
        self.mask = ComplexAttentionUnit(out_ch) if attention == "complex" else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        pre = x if self.preact is None else self.preact(x)          # (B, C_in, H, W)
        shortcut = x if self.proj is None else self.proj(pre)       # (B, C, H/s, W/s)
        act1 = F.relu(self.bn1(self.conv1(pre)))                    # (B, C, H/s, W/s)
        res = self.conv2(act1)                                      # (B, C, H/s, W/s)
        out = shortcut + res                                        # (B, C, H/s, W/s)
        if self.attn is not None:
            m = self.attn(shortcut, act1, res)                      # (B, 1, H/s, W/s)
        elif self.mask is not None:
            m = self.mask(out)                                      # (B, C, H/s, W/s)
        else:
            return out, None
        return out * (1 + m), m


class MicroAttentionNet(nn.Module):
    """Pre-activation ResNet10 on a grey apex frame, with micro-attention units
    (`attention="micro"`, the paper's network), without any ("none", "Residual Network [17]" of
    Table 3), or with the complex attention branches the paper compares against ("complex",
    "Residual Network with complex attention [29]").

    x (B, 1, H, W); the paper uses 224x224, any H, W >= 32 works. The attention maps of the four
    blocks come back in `ModelOutput.attention` as "stage1".."stage4", (B, 1, H/4 .. H/32, ...).

    `checkpoint`: a local state dict of the plain network (its macro-expression pre-training,
    paper Fig. 3), of this same variant, or an ImageNet ResNet in torchvision's layout (the
    paper's starting point; see `from_torchvision`). Its classifier ("fc.*") is never loaded (the
    task's classes are new); attention weights may be absent (they are new at fine-tuning); any
    other missing, unexpected or mis-shaped key raises a ValueError that says why. Nothing is
    downloaded. `loaded_tensors` tells how many tensors came from it.
    """

    def __init__(self, num_classes: int, attention: Literal["micro", "complex", "none"] = "micro",
                 in_channels: int = 1, checkpoint: str | None = None, width: int = 64):
        super().__init__()
        if attention not in ("micro", "complex", "none"):
            raise ValueError(f"attention must be micro, complex or none, got {attention!r}")
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
        self.loaded_tensors = 0
        if checkpoint is not None:
            self.loaded_tensors = load_weights(self, checkpoint, skip=("fc.",),
                                               may_lack=(".attn.", ".mask."),
                                               convert=lambda state: from_torchvision(state, self))

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


def from_torchvision(state: dict[str, torch.Tensor], net: MicroAttentionNet
                     ) -> dict[str, torch.Tensor]:
    """An ImageNet ResNet state dict in torchvision's layout (conv1, bn1, layer1..4, fc) as this
    network's, so that the paper's ImageNet initialisation loads; any other dict is returned as
    is. Stage i's block takes the first basic block of torchvision's layer i (its conv1, bn1,
    conv2 and the 1x1 downsample conv); the pre-activation BN in front of stage i + 1 and the
    head's BN take the bn2 of that same block, the BN that normalised its output; the stem's 3
    colour channels are summed into the grey one (a grey image is R = G = B). torchvision's
    second block per stage and its downsample BN have no place in ResNet10 and are left out.
    A checkpoint of another width stops with a ValueError that says so."""
    if "layer1.0.conv1.weight" not in state:
        return state
    stem = state["conv1.weight"]                                           # (64, 3, 7, 7)
    width = net.stem[0].out_channels
    if stem.shape[0] != width:
        raise ValueError(f"a torchvision ResNet of width {stem.shape[0]} (conv1 has "
                         f"{stem.shape[0]} filters) does not fit this network's width {width}; "
                         f"set net.width: {stem.shape[0]}")
    if net.stem[0].in_channels == 1 and stem.shape[1] == 3:
        stem = stem.sum(dim=1, keepdim=True)                               # (64, 1, 7, 7)
    bn = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
    out = {"stem.0.weight": stem, **{f"stem.1.{k}": state[f"bn1.{k}"] for k in bn}}
    for i in range(4):
        src, dst = f"layer{i + 1}.0", f"blocks.{i}"
        out[f"{dst}.conv1.weight"] = state[f"{src}.conv1.weight"]
        out[f"{dst}.conv2.weight"] = state[f"{src}.conv2.weight"]
        out.update({f"{dst}.bn1.{k}": state[f"{src}.bn1.{k}"] for k in bn})
        if i > 0:
            out[f"{dst}.proj.weight"] = state[f"{src}.downsample.0.weight"]
            out.update({f"{dst}.preact.0.{k}": state[f"layer{i}.0.bn2.{k}"] for k in bn})
    out.update({f"head_bn.{k}": state[f"layer4.0.bn2.{k}"] for k in bn})
    return out


register("micro_attention", Card(input_shape=("in_channels", None, None), paper_input=(1, 224, 224),
                                 section="baselines.micro_attention", inputs="ApexFrame"))(MicroAttentionNet)


@register("resnet10", Card(input_shape=("in_channels", None, None), paper_input=(1, 224, 224)))
def resnet10(num_classes: int, in_channels: int = 1, checkpoint: str | None = None,
             width: int = 64) -> MicroAttentionNet:
    """The same network without attention units (the paper's baseline, Table 3's 4.9 M)."""
    return MicroAttentionNet(num_classes, attention="none", in_channels=in_channels,
                             checkpoint=checkpoint, width=width)

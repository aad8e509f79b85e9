"""Micro-Attention and its plain ResNet10 (models/micro_attention.py) on CPU at small inputs:
shapes, gradients, the frozen channel mean, the unit against its definition (methods.md,
"Micro-Attention"), the paper's parameter counts, checkpoint transfer, and a tiny overfitting
run."""

from __future__ import annotations

import pytest
import torch

import models.micro_attention  # noqa: F401  (registers "micro_attention" and "resnet10")
from models.micro_attention import MicroAttentionNet
from models.registry import count_parameters, create_model
from tests.conftest import steps_to_fit


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def images(b: int = 2, size: int = 64, seed: int = 0) -> torch.Tensor:
    return torch.randn(b, 1, size, size, generator=torch.Generator().manual_seed(seed))


def test_forward_backward_shapes_and_gradients():
    torch.manual_seed(0)
    net = create_model("micro_attention", num_classes=5)
    out = net(images())
    assert out.logits.shape == (2, 5) and out.features.shape == (2, 512)
    assert {k: tuple(v.shape) for k, v in out.attention.items()} == {
        "stage1": (2, 1, 16, 16), "stage2": (2, 1, 8, 8), "stage3": (2, 1, 4, 4),
        "stage4": (2, 1, 2, 2)}
    for m in out.attention.values():
        assert ((m > 0) & (m < 1)).all()
    total, parts = net.loss(out, torch.tensor([0, 4]))
    torch.testing.assert_close(total, torch.nn.functional.cross_entropy(out.logits,
                                                                        torch.tensor([0, 4])))
    assert set(parts) == {"loss", "ce"}
    total.backward()
    assert torch.isfinite(out.logits).all()
    for name, p in net.named_parameters():
        if name.endswith("attn.mean.weight"):
            assert not p.requires_grad and p.grad is None, name
            torch.testing.assert_close(p, torch.full_like(p, 1 / p.shape[1]))
            continue
        assert p.requires_grad and p.grad is not None, name
        assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_frozen_mean_is_not_trainable_and_does_not_move():
    torch.manual_seed(0)
    net = create_model("micro_attention", num_classes=3)
    frozen = {n: p.clone() for n, p in net.named_parameters() if not p.requires_grad}
    assert sorted(frozen) == [f"blocks.{i}.attn.mean.weight" for i in range(4)]
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    for _ in range(2):
        total, _ = net.loss(net(images(size=32)), torch.tensor([0, 1]))
        opt.zero_grad()
        total.backward()
        opt.step()
    for n, p in net.named_parameters():
        if n in frozen:
            torch.testing.assert_close(p, frozen[n])


def test_other_input_sizes_and_plain_network():
    torch.manual_seed(0)
    for size in (112, 32):
        with torch.no_grad():
            out = create_model("micro_attention", num_classes=3).eval()(images(1, size))
        assert out.logits.shape == (1, 3)
        assert out.attention["stage4"].shape == (1, 1, -(-size // 32), -(-size // 32))  # ceil
    plain = create_model("resnet10", num_classes=3)
    assert isinstance(plain, MicroAttentionNet) and plain.attention == "none"
    assert all(b.attn is None for b in plain.blocks)
    assert plain(images()).attention == {}
    with pytest.raises(ValueError, match="B, C, H, W"):
        plain(torch.zeros(1, 1, 1, 32, 32))


def test_attention_unit_against_its_definition():
    """Recompute one block's output by hand: concat [shortcut, act1, conv2] -> 1x1 conv ->
    channel mean -> sigmoid -> M; output (shortcut + conv2) * (1 + M)."""
    torch.manual_seed(0)
    net = create_model("micro_attention", num_classes=3).eval()
    block = net.blocks[1]                                     # 64 -> 128, stride 2, projection
    x = torch.randn(2, 64, 16, 16)
    with torch.no_grad():
        out, m = block(x)
        pre = torch.relu(block.preact[0](x))
        shortcut = block.proj(pre)
        act1 = torch.relu(block.bn1(block.conv1(pre)))
        res = block.conv2(act1)
        embedded = block.attn.embed(torch.cat([shortcut, act1, res], 1))  # (2, 128, 8, 8)
        m_ref = torch.sigmoid(embedded.mean(1, keepdim=True))              # (2, 1, 8, 8)
    torch.testing.assert_close(m, m_ref)
    torch.testing.assert_close(out, (shortcut + res) * (1 + m_ref))


def test_attention_switch_changes_the_computation():
    torch.manual_seed(0)
    att = create_model("micro_attention", num_classes=3).eval()
    plain = create_model("resnet10", num_classes=3).eval()
    plain.load_state_dict({k: v for k, v in att.state_dict().items() if ".attn." not in k})
    x = images()
    with torch.no_grad():
        assert not torch.allclose(att(x).logits, plain(x).logits)
        # a zero channel-mean gives M = sigmoid(0) = 1/2 everywhere: each attention block must
        # then return exactly 1.5 times the plain block's output on the same input
        for block in att.blocks:
            torch.nn.init.zeros_(block.attn.mean.weight)
        h = plain.stem(x)
        for ba, bp in zip(att.blocks, plain.blocks):
            (h_att, m), (h_plain, _) = ba(h), bp(h)
            torch.testing.assert_close(m, torch.full_like(m, 0.5))
            torch.testing.assert_close(h_att, 1.5 * h_plain)
            h = h_plain


@pytest.mark.parametrize("num_classes", [5, 6, 7])
def test_parameter_counts_match_the_paper(num_classes):
    """methods.md / paper Table 3: 4.90 M without attention, 5.94 M with (within 2 %). The paper
    pre-trains on 5 macro-expression classes; 6 and 7 land in the same window."""
    plain = count_parameters(create_model("resnet10", num_classes=num_classes))
    att = count_parameters(create_model("micro_attention", num_classes=num_classes))
    print(f"\n{num_classes} classes: ResNet10 {plain:,}, Micro-Attention {att:,} trainable")
    assert abs(plain / 4.90e6 - 1) < 0.02
    assert abs(att / 5.94e6 - 1) < 0.02
    if num_classes == 5:                                      # the derivation in the module
        assert (plain, att) == (4_900_293, 5_944_773)
    assert att - plain == 3 * (64 ** 2 + 128 ** 2 + 256 ** 2 + 512 ** 2)


def test_transfer_from_plain_checkpoint(tmp_path):
    """Paper Fig. 3: the plain network pre-trained on macro-expressions initialises the attention
    network; the attention units and the classifier start fresh."""
    torch.manual_seed(0)
    plain = create_model("resnet10", num_classes=5)
    path = tmp_path / "macro.pt"
    torch.save(plain.state_dict(), path)
    net = create_model("micro_attention", num_classes=3, checkpoint=str(path))
    own = net.state_dict()
    for k, v in plain.state_dict().items():
        if not k.startswith("fc."):
            torch.testing.assert_close(own[k], v)
    with pytest.raises(FileNotFoundError):
        create_model("micro_attention", num_classes=3, checkpoint=str(tmp_path / "none.pt"))
    state = plain.state_dict()
    del state["blocks.3.conv2.weight"]
    torch.save(state, path)
    with pytest.raises(ValueError, match="blocks.3.conv2.weight"):
        create_model("micro_attention", num_classes=3, checkpoint=str(path))


def torchvision_resnet18(seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict with torchvision's resnet18 names and shapes, random tensors (torchvision
    itself is not installed)."""
    g = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}

    def bn(name: str, c: int) -> None:
        state.update({f"{name}.weight": torch.rand(c, generator=g) + 0.5,
                      f"{name}.bias": torch.randn(c, generator=g),
                      f"{name}.running_mean": torch.randn(c, generator=g),
                      f"{name}.running_var": torch.rand(c, generator=g) + 0.5,
                      f"{name}.num_batches_tracked": torch.tensor(100)})

    state["conv1.weight"] = torch.randn(64, 3, 7, 7, generator=g)
    bn("bn1", 64)
    for i, (cin, c) in enumerate([(64, 64), (64, 128), (128, 256), (256, 512)], start=1):
        for b in range(2):
            src = cin if b == 0 else c
            state[f"layer{i}.{b}.conv1.weight"] = torch.randn(c, src, 3, 3, generator=g)
            bn(f"layer{i}.{b}.bn1", c)
            state[f"layer{i}.{b}.conv2.weight"] = torch.randn(c, c, 3, 3, generator=g)
            bn(f"layer{i}.{b}.bn2", c)
        if i > 1:
            state[f"layer{i}.0.downsample.0.weight"] = torch.randn(c, cin, 1, 1, generator=g)
            bn(f"layer{i}.0.downsample.1", c)
    state["fc.weight"], state["fc.bias"] = torch.randn(1000, 512, generator=g), torch.zeros(1000)
    return state


def test_imagenet_resnet18_in_torchvision_layout_loads(tmp_path):
    """The paper's ImageNet start: torchvision names map onto ResNet10 (the first basic block
    of each stage, RGB summed into grey); every non-attention tensor is loaded and counted."""
    state = torchvision_resnet18()
    path = tmp_path / "resnet18.pth"
    torch.save(state, path)
    net = create_model("micro_attention", num_classes=5, width=64, checkpoint=str(path))
    expected = [k for k in net.state_dict() if ".attn." not in k and not k.startswith("fc.")]
    assert net.loaded_tensors == len(expected) == 57
    own = net.state_dict()
    torch.testing.assert_close(own["stem.0.weight"], state["conv1.weight"].sum(1, keepdim=True))
    torch.testing.assert_close(own["blocks.2.conv1.weight"], state["layer3.0.conv1.weight"])
    torch.testing.assert_close(own["blocks.2.proj.weight"], state["layer3.0.downsample.0.weight"])
    torch.testing.assert_close(own["blocks.2.preact.0.running_mean"], state["layer2.0.bn2.running_mean"])
    torch.testing.assert_close(own["head_bn.weight"], state["layer4.0.bn2.weight"])
    plain = create_model("resnet10", num_classes=5, width=64, checkpoint=str(path))
    assert plain.loaded_tensors == 57

    with pytest.raises(ValueError, match=r"width 64 \(conv1 has 64 filters\) does not fit this "
                                         r"network's width 16; set net.width: 64"):
        create_model("micro_attention", num_classes=5, width=16, checkpoint=str(path))
    del state["layer2.0.downsample.0.weight"]
    torch.save(state, path)
    with pytest.raises(ValueError, match="lacks 'layer2.0.downsample.0.weight'"):
        create_model("micro_attention", num_classes=5, width=64, checkpoint=str(path))
    torch.save({"features.0.weight": torch.zeros(3)}, path)
    with pytest.raises(ValueError, match="none of its 1 tensors"):
        create_model("micro_attention", num_classes=5, width=64, checkpoint=str(path))


def test_complex_attention_baseline(tmp_path):
    """Table 3's "Residual Network with complex attention": a mask branch per block, 11.2 M in
    the paper (11.5 M here), initialised from the same plain pre-training."""
    torch.manual_seed(0)
    net = create_model("micro_attention", num_classes=5, attention="complex")
    n = count_parameters(net)
    print(f"\ncomplex attention: {n:,} parameters")
    assert abs(n / 11.2e6 - 1) < 0.04
    out = net(images(2, 64))
    assert out.attention["stage1"].shape == (2, 64, 16, 16)
    assert ((out.attention["stage4"] > 0) & (out.attention["stage4"] < 1)).all()
    plain = create_model("resnet10", num_classes=5)
    path = tmp_path / "macro.pt"
    torch.save(plain.state_dict(), path)
    loaded = create_model("micro_attention", num_classes=3, attention="complex", checkpoint=str(path))
    assert loaded.loaded_tensors == len([k for k in plain.state_dict() if not k.startswith("fc.")])
    with pytest.raises(ValueError, match="micro, complex or none"):
        create_model("micro_attention", num_classes=3, attention="simple")


@pytest.mark.parametrize("name", ["micro_attention", "resnet10"])
def test_overfits_a_tiny_batch(name):
    """8 random grey images of 2 classes at 48 px: 100 % train accuracy, in eval mode (BN running
    statistics), within a few dozen Adam steps."""
    torch.manual_seed(0)
    net = create_model(name, num_classes=2)
    x = images(8, 48, seed=1)
    y = torch.tensor([0, 1, 1, 0, 1, 0, 0, 1])
    assert steps_to_fit(net, x, y, lr=1e-3, steps=40) is not None

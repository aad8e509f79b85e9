"""STANet (models/stanet.py): shapes, gradients, the Table 2 switches, the l1 term, and that
it can fit a handful of samples. Everything at 32x32 so that it runs in seconds on a CPU."""

from __future__ import annotations


import pytest
import torch

from models.registry import count_parameters, create_model
from models.stanet import STANet          # importing models.stanet registers "stanet"
from tests.conftest import steps_to_fit

SMALL = (8, 16, 32, 32)          # trunk widths that keep the tests fast


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def flows(batch: int, length: int, size: int = 32, seed: int = 0) -> torch.Tensor:
    torch.manual_seed(seed)
    return torch.randn(batch, length, 2, size, size)                     # (B, L, 2, H, W)


def twin(**switches) -> STANet:
    """A STANet with the given switches and the same weights as the full one for every
    parameter the two share, so that a difference in output comes from the switch alone."""
    torch.manual_seed(0)
    full = STANet(3, channels=SMALL)
    net = STANet(3, channels=SMALL, **switches)
    missing, unexpected = net.load_state_dict(full.state_dict(), strict=False)
    assert not missing
    return net.eval()


@pytest.mark.parametrize("length", [5, 19])
def test_forward_backward_shapes_and_gradients(length):
    torch.manual_seed(0)
    net = create_model("stanet", num_classes=3, channels=SMALL)
    x, target = flows(2, length), torch.tensor([0, 2])
    out = net(x)
    assert out.logits.shape == (2, 3) and out.features.shape == (2, 32)
    assert out.attention["spatial"].shape == (2, length, 1, 8, 8)
    assert out.attention["temporal"].shape == (2, length)
    assert out.aux["mask_l1"].shape == (2,)
    loss, parts = net.loss(out, target)
    assert set(parts) == {"ce", "mask_l1", "mask_penalty", "loss"}
    loss.backward()
    assert torch.isfinite(out.logits).all() and torch.isfinite(loss)
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, f"no gradient reaches {name}"


def test_temporal_weights_sum_to_one_and_mask_in_unit_interval():
    out = twin()(flows(3, 7))
    assert torch.allclose(out.attention["temporal"].sum(dim=1), torch.ones(3), atol=1e-6)
    m = out.attention["spatial"]
    assert (m >= 0).all() and (m <= 1).all()
    assert torch.allclose(out.aux["mask_l1"], m.flatten(1).sum(dim=1))


def test_sab_switch_changes_output_and_removes_hourglass():
    x = flows(2, 5)
    full, off = twin(), twin(sab=False, l1=False)
    hourglass = sum(p.numel() for p in full.hourglass.parameters())
    assert hourglass > 0 and off.hourglass is None
    assert not any("hourglass" in name for name, _ in off.named_parameters())
    assert count_parameters(full) - count_parameters(off) == hourglass
    with torch.no_grad():
        a, b = full(x), off(x)
    assert "spatial" not in b.attention and "mask_l1" not in b.aux
    assert not torch.allclose(a.logits, b.logits)


def test_tab_switch_changes_output_to_plain_mean():
    x = flows(2, 5)
    full, off = twin(), twin(tab=False)
    assert off.temporal is None
    assert not any(name.startswith("temporal.") for name, _ in off.named_parameters())
    with torch.no_grad():
        a, b = full(x), off(x)
    assert "temporal" not in b.attention
    assert not torch.allclose(a.logits, b.logits)
    baseline = twin(sab=False, tab=False, l1=False)                     # Table 2's baseline
    with torch.no_grad():
        f = baseline.stage4(baseline.stage3(baseline.stage2(baseline.stage1(x.flatten(0, 1)))))
        out = baseline(x)
    assert out.attention == {} and out.aux == {}
    assert torch.allclose(out.features, f.unflatten(0, (2, 5)).mean(dim=1), atol=1e-6)


def test_l1_term_scales_with_lambda_and_switch_removes_it():
    x, target = flows(2, 5), torch.tensor([1, 0])
    with torch.no_grad():
        out = twin()(x)
    losses = {}
    for name, kwargs in {"one": {}, "two": {"l1_weight": 2e-8}, "big": {"l1_weight": 1e-3},
                         "off": {"l1": False}}.items():
        loss, parts = twin(**kwargs).loss(out, target)
        losses[name] = (loss, parts)
    ce = losses["off"][0]
    assert "mask_penalty" not in losses["off"][1]
    assert losses["off"][0].item() == losses["off"][1]["ce"]
    assert losses["two"][1]["mask_penalty"] == pytest.approx(2 * losses["one"][1]["mask_penalty"])
    mask_l1 = out.aux["mask_l1"].mean().item()
    assert losses["one"][1]["mask_penalty"] == pytest.approx(1e-8 * mask_l1)
    assert (losses["big"][0] - ce).item() == pytest.approx(1e-3 * mask_l1, rel=1e-4)


def test_bad_switches_and_input_are_refused():
    with pytest.raises(ValueError, match="sab=False"):
        STANet(3, sab=False)
    with pytest.raises(ValueError, match=r"\(B, L, 2, H, W\)"):
        STANet(3, channels=SMALL)(torch.zeros(2, 5, 32, 32))
    with pytest.raises(ValueError, match="H, W >= 16"):
        STANet(3, channels=SMALL)(torch.zeros(1, 5, 2, 8, 8))


def test_overfits_a_few_samples():
    torch.manual_seed(0)
    x = torch.randn(8, 5, 2, 32, 32)                                     # (B, L, 2, H, W)
    target = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    net = STANet(3, channels=SMALL)
    assert steps_to_fit(net, x, target, lr=3e-3, steps=40) is not None

"""FR and Basic Inception: shapes, gradients, the losses by hand, Table 7's parameter counts,
and a tiny overfit."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import models.fr  # noqa: F401  (registers fr / basic_inception)
from models.registry import count_parameters, create_model
from tests.conftest import steps_to_fit

D = 2 * 64 * 7 * 7


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("name", ["fr", "basic_inception"])
def test_forward_backward_reaches_every_parameter(name):
    torch.manual_seed(0)
    net = create_model(name, num_classes=3)
    x, y = torch.randn(4, 2, 28, 28), torch.tensor([0, 1, 2, 1])
    out = net(x)
    assert out.logits.shape == (4, 3) and torch.isfinite(out.logits).all()
    total, parts = net.loss(out, y)
    assert torch.isfinite(total) and all(isinstance(v, float) for v in parts.values())
    total.backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"no gradient reaches {missing}"


def test_fr_outputs():
    torch.manual_seed(0)
    net = create_model("fr", num_classes=4).eval()
    x = torch.randn(3, 2, 28, 28)
    out = net(x)
    a = out.attention["proposal"]
    assert a.shape == (3, 4, D) and torch.allclose(a.sum(-1), torch.ones(3, 4))
    assert out.features.shape == (3, D)
    assert out.aux["detector"].shape == (3, 4)
    assert ((out.aux["detector"] > 0) & (out.aux["detector"] < 1)).all()
    z = net.trunk(x)                                            # (3, D)
    assert torch.allclose(out.features, (a * z[:, None]).sum(1))   # z' = sum_k a_k * z


def test_fr_loss_by_hand():
    torch.manual_seed(0)
    net = create_model("fr", num_classes=3, proposal_weight=0.85)
    with torch.no_grad():
        out = net(torch.randn(4, 2, 28, 28))
    y = torch.tensor([0, 2, 2, 1])
    p = out.aux["detector"]
    bces = []
    for k in range(3):
        t = (y == k).float()
        bces.append(-(t * torch.log(p[:, k]) + (1 - t) * torch.log(1 - p[:, k])).mean())
    prop = torch.stack(bces).mean()
    cls = -torch.log_softmax(out.logits, 1)[torch.arange(4), y].mean()
    total, parts = net.loss(out, y)
    assert parts["prop"] == pytest.approx(float(prop), rel=1e-5)
    assert parts["cls"] == pytest.approx(float(cls), rel=1e-5)
    assert torch.isclose(total, 0.85 * prop + cls, rtol=1e-5)
    assert parts["loss"] == pytest.approx(0.85 * parts["prop"] + parts["cls"], rel=1e-6)


def test_lambda_switch_and_basic_loss():
    torch.manual_seed(0)
    net = create_model("fr", num_classes=3)
    out = net(torch.randn(2, 2, 28, 28))
    y = torch.tensor([0, 1])
    net.proposal_weight = 0.0
    only_cls, parts = net.loss(out, y)
    assert torch.isclose(only_cls, F.cross_entropy(out.logits, y))
    net.proposal_weight = 2.0
    assert torch.isclose(net.loss(out, y)[0], only_cls + 2.0 * parts["prop"])
    basic = create_model("basic_inception", num_classes=3)
    b_out = basic(torch.randn(2, 2, 28, 28))
    assert torch.isclose(basic.loss(b_out, y)[0], F.cross_entropy(b_out.logits, y))


@pytest.mark.parametrize("name, classes, paper", [("basic_inception", 3, 6.4803e6),
                                                  ("basic_inception", 4, 6.4813e6),
                                                  ("fr", 3, 10.2418e6), ("fr", 4, 11.4231e6)])
def test_parameter_counts_match_table7(name, classes, paper):
    n = count_parameters(create_model(name, num_classes=classes))
    print(f"{name} K={classes}: {n:,} vs paper {paper:,.0f} ({100 * (n / paper - 1):+.2f} %)")
    assert abs(n / paper - 1) < 0.03


@pytest.mark.parametrize("name", ["fr", "basic_inception"])
def test_overfits_a_tiny_set(name):
    torch.manual_seed(0)
    x = torch.randn(8, 2, 28, 28)
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    net = create_model(name, num_classes=3)
    # FR starts slowly: z' = sum_k softmax_D(.) * z is ~K/D of z until the trunk grows, so a
    # larger step than the paper's 1e-3 keeps this short (100 % by ~25 steps)
    assert steps_to_fit(net, x, y, lr=3e-3, steps=40) is not None


def test_ablation_switches_of_table_1():
    """FR-fc (no softmax re-weighting), FR-concatenated (K * D fused feature) and Basic
    Inception (no proposal module) are FR's switches; each trains through its loss."""
    torch.manual_seed(0)
    x, y = torch.randn(4, 2, 28, 28), torch.tensor([0, 1, 2, 1])
    d = 2 * 64 * 7 * 7
    counts = {}
    for proposals, fusion in [("attention", "sum"), ("fc", "sum"), ("attention", "concat"),
                              ("none", "sum")]:
        net = create_model("fr", num_classes=3, proposals=proposals, fusion=fusion)
        out = net(x)
        loss, parts = net.loss(out, y)
        loss.backward()
        assert torch.isfinite(loss) and out.logits.shape == (4, 3)
        assert ("prop" in parts) == (proposals != "none")
        assert ("proposal" in out.attention) == (proposals == "attention")
        counts[proposals, fusion] = sum(p.numel() for p in net.parameters())
    assert counts["fc", "sum"] == counts["attention", "sum"]          # same FC, no softmax
    assert counts["attention", "concat"] - counts["attention", "sum"] == 2 * d * 1024
    basic = sum(p.numel() for p in create_model("basic_inception", num_classes=3).parameters())
    assert counts["none", "sum"] == basic
    with pytest.raises(ValueError, match="built for 28 x 28"):
        create_model("fr", num_classes=3)(torch.randn(2, 2, 32, 32))

"""Every registered network, built by name: forward, backward, shapes, no NaN, and a loss that
reaches every trainable parameter (timm's one parametrised test, for this registry)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import models

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_every_network_has_a_card():
    """The registry finds each network's file without importing it, and every card's input
    shape fits its network's paper input."""
    assert models.list_models() == ["basic_inception", "fr", "micro_attention", "resnet10",
                                    "sma_stn", "stanet", "strcn_a", "strcn_g"]
    assert models.module_of("strcn_g") == "models.strcn" and models.module_of("resnet50") is None
    for name in models.list_models():
        card = models.card(name)
        assert len(card.paper_input) == len(card.input_shape), name
        shape = models.example_shape(name, size=7)
        assert all(s == p or d is None for s, p, d in zip(shape, card.paper_input, card.input_shape)
                   if not isinstance(d, str)), name
    assert models.pipeline_networks()[0] == "sma_stn"          # the flagship, section `model`


@pytest.mark.parametrize("name", models.list_models())
def test_forward_backward(name):
    """A small input of the kind each network reads (from its card; free sizes 32), batch 4."""
    torch.manual_seed(0)
    net = models.create_model(name, num_classes=3)
    x = torch.randn((4, *models.example_shape(name, size=32)))
    target = torch.tensor([0, 1, 2, 1])
    out = net(x)
    assert isinstance(out, models.ModelOutput) and out.logits.shape == (4, 3)
    assert torch.isfinite(out.logits).all()
    loss, parts = net.loss(out, target)
    assert loss.ndim == 0 and torch.isfinite(loss) and "loss" in parts
    loss.backward()
    unreached = [n for n, p in net.named_parameters() if p.requires_grad and p.grad is None]
    # SMA-STN's non-local block starts as the identity (its output BN is zero), so the block's
    # inner convolutions get no gradient until that BN moves: its own test covers them.
    if name == "sma_stn":
        unreached = [n for n in unreached if not n.startswith("nonlocal_block.")]
    assert unreached == []


def test_unknown_network_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown network 'resnet50'; registered: basic_inception"):
        models.create_model("resnet50", num_classes=3)


def test_parameter_counts_against_the_papers():
    counts = {name: models.count_parameters(models.create_model(name, num_classes=k))
              for name, k in [("micro_attention", 5), ("resnet10", 5), ("basic_inception", 3),
                              ("fr", 3), ("sma_stn", 3), ("strcn_a", 3), ("strcn_g", 3),
                              ("stanet", 3)]}
    fr4 = models.count_parameters(models.create_model("fr", num_classes=4))
    print("\n" + "\n".join(f"{name:16s} {n / 1e6:6.2f} M" for name, n in counts.items())
          + f"\nfr (4 classes)   {fr4 / 1e6:6.2f} M")
    assert counts["resnet10"] == pytest.approx(4.90e6, rel=0.02)          # Micro-Attention Table 3
    assert counts["micro_attention"] == pytest.approx(5.90e6, rel=0.02)
    assert counts["basic_inception"] == pytest.approx(6.48e6, rel=0.03)   # FR Table 7
    assert counts["fr"] == pytest.approx(10.24e6, rel=0.03)
    assert fr4 == pytest.approx(11.42e6, rel=0.03)


@pytest.mark.parametrize("name", models.list_models())
def test_one_bf16_autocast_step_has_finite_gradients(name):
    """The mixed-precision path the GPU takes, exercised on the CPU (bfloat16 autocast): one
    optimiser step through the network's loss, every gradient finite."""
    from pipeline.params import Adam
    from pipeline.training import Precision, fit, precision_for

    precision = precision_for(torch.device("cpu"), True, "bfloat16")
    assert precision == Precision(True, torch.bfloat16, scaled=False)
    assert precision_for(torch.device("cpu"), True, "auto") == Precision(False)
    with pytest.raises(ValueError, match="float16 needs a GPU"):
        precision_for(torch.device("cpu"), True, "float16")
    torch.manual_seed(0)
    net = models.create_model(name, num_classes=3)
    x = torch.randn((4, *models.example_shape(name, size=32)))
    y = torch.tensor([0, 1, 2, 1])
    curve = fit(net, Adam("adam", 1e-3, 0.0, 1, 1.0), 1, lambda epoch: [(x, y)],
                torch.device("cpu"), precision)
    assert np.isfinite(curve[0]["loss"])
    grads = [p.grad for p in net.parameters() if p.requires_grad and p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)

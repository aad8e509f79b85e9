"""STRCN: shapes, gradients, the switches, the balanced loss by hand, any P for STRCN-A, and a
tiny overfit. Small feature_maps keep every test well under a second or two on CPU."""

from __future__ import annotations

import pytest
import torch

import models.strcn  # noqa: F401  (registers strcn_a / strcn_g)
from models.registry import count_parameters, create_model
from models.strcn import balanced_weights
from tests.conftest import steps_to_fit


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _check_backward(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    out = net(x)
    assert out.logits.shape == (x.shape[0], 3)
    assert torch.isfinite(out.logits).all()
    total, parts = net.loss(out, y)
    assert torch.isfinite(total) and all(isinstance(v, float) for v in parts.values())
    total.backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"no gradient reaches {missing}"


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("name, shape", [("strcn_g", (2, 60, 49)), ("strcn_g", (2, 20, 17)),
                                         ("strcn_a", (1, 120, 30))])
def test_forward_backward(name, shape, shared):
    torch.manual_seed(0)
    net = create_model(name, num_classes=3, feature_maps=8, shared_recurrent=shared)
    _check_backward(net, torch.randn(4, *shape), torch.tensor([0, 1, 2, 0]))


def test_strcn_a_accepts_any_number_of_masked_pixels():
    torch.manual_seed(0)
    net = create_model("strcn_a", num_classes=3, feature_maps=8).eval()
    for p in (922, 400, 37, 5):
        out = net(torch.randn(2, 1, p, 30))
        assert out.logits.shape == (2, 3) and out.features.shape == (2, 8)


def test_paper_size_shapes_follow_table1():
    """300 x 245 flow: conv1 296x241 -> 74x60 -> 18x15 -> 4x3 -> 2x1 (MatConvNet's floors)."""
    net = create_model("strcn_g", feature_maps=4).eval()
    sizes = []
    hook = lambda mod, inp, out: sizes.append(tuple(out.shape[-2:]))  # noqa: E731
    for layer in net.body:
        if isinstance(layer, models.strcn.ClampedMaxPool):
            layer.register_forward_hook(hook)
    with torch.no_grad():
        net(torch.zeros(1, 2, 300, 245))
    assert sizes == [(74, 60), (18, 15), (4, 3), (2, 1)]


def test_switches_change_the_computation():
    torch.manual_seed(0)
    x = torch.randn(4, 2, 40, 33)
    unshared = create_model("strcn_g", feature_maps=8)
    shared = create_model("strcn_g", feature_maps=8, shared_recurrent=True)
    rcl_u, rcl_s = unshared.body[2], shared.body[2]
    assert len(rcl_u.recurrent) == 3 and len(rcl_s.recurrent) == 1
    assert count_parameters(shared) < count_parameters(unshared)
    # same weights where they exist, still different outputs: the forms differ, not only sharing
    shared.load_state_dict(unshared.state_dict(), strict=False)
    assert not torch.allclose(unshared(x).logits, shared(x).logits)
    assert len(create_model("strcn_g", num_rcl=2, feature_maps=8).body) == 2 + 2 + 1
    assert len(create_model("strcn_g", steps=0, feature_maps=8).body[2].norms) == 1

    y = torch.tensor([0, 0, 0, 1])
    out = unshared(x)
    balanced, _ = unshared.loss(out, y)
    plain, _ = create_model("strcn_g", feature_maps=8, balanced=False).loss(out, y)
    assert torch.isclose(plain, torch.nn.functional.cross_entropy(out.logits, y))
    assert not torch.isclose(balanced, plain)


def test_balanced_weights_by_hand():
    w = balanced_weights(torch.tensor([0, 0, 0, 1]))
    assert torch.allclose(w, torch.tensor([2 / 3, 2 / 3, 2 / 3, 2.0]))
    assert torch.isclose(w[3] / w[0], torch.tensor(3.0))
    assert torch.isclose(w.mean(), torch.tensor(1.0))
    # absent classes do not count; a balanced batch has unit weights
    w = balanced_weights(torch.tensor([2, 5, 5, 5, 5, 2]))
    assert torch.allclose(w, torch.tensor([1.5, 0.75, 0.75, 0.75, 0.75, 1.5]))
    assert torch.allclose(balanced_weights(torch.tensor([0, 1, 2])), torch.ones(3))


def test_balanced_loss_is_weighted_cross_entropy():
    net = create_model("strcn_g", feature_maps=4)
    logits = torch.randn(4, 3)
    y = torch.tensor([0, 0, 0, 1])
    ce = -torch.log_softmax(logits, dim=1)[torch.arange(4), y]
    expected = (torch.tensor([2 / 3, 2 / 3, 2 / 3, 2.0]) * ce).mean()
    total, parts = net.loss(models.strcn.ModelOutput(logits=logits), y)
    assert torch.isclose(total, expected) and parts["loss"] == pytest.approx(float(expected))


def test_parameter_counts_printed():
    """The paper gives no count for STRCN; print the default (M = 128, 4 RCLs x 3 steps)."""
    for name in ("strcn_a", "strcn_g"):
        for shared in (False, True):
            n = count_parameters(create_model(name, num_classes=3, shared_recurrent=shared))
            print(f"{name} shared_recurrent={shared}: {n:,} parameters")
            assert 0.5e6 < n < 2e6


@pytest.mark.parametrize("name, shape", [("strcn_g", (2, 24, 20)), ("strcn_a", (1, 48, 30))])
def test_overfits_a_tiny_set(name, shape):
    torch.manual_seed(0)
    x = torch.randn(8, *shape)
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    net = create_model(name, num_classes=3, feature_maps=16, num_rcl=2, steps=2)
    assert steps_to_fit(net, x, y, lr=3e-3, steps=40) is not None


def test_every_layer_sees_a_map_at_the_default_sizes():
    """No pooling kernel is clamped to a smaller map at params.yaml's sizes (STRCN-G's flow size,
    STRCN-A's masked pixels x frames): every recurrent layer works on a real map, not 1 x 1; at
    the paper's 300 x 245 the paper's four RCLs do too."""
    import yaml

    from models.strcn import ClampedMaxPool
    from tests.conftest import REPO

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    h, w = params["masks"]["shape"]
    pixels = round(params["baselines"]["strcn_a"]["input"]["mask_p"] * h * w)
    cases = [("strcn_g", params["baselines"]["strcn_g"]["net"], (2, *params["flow"]["strcn_g"]["shape"])),
             ("strcn_a", params["baselines"]["strcn_a"]["net"], (1, pixels, params["masks"]["frames"])),
             ("strcn_g", dict(params["baselines"]["strcn_g"]["net"], num_rcl=4), (2, 300, 245))]
    for name, net_args, shape in cases:
        net = create_model(name, num_classes=3, **net_args).eval()
        clamped = []

        def check(module, inputs, output):
            if any(k > s for k, s in zip(module.kernel, inputs[0].shape[-2:])):
                clamped.append((module.kernel, tuple(inputs[0].shape[-2:])))

        for module in net.modules():
            if isinstance(module, ClampedMaxPool):
                module.register_forward_hook(check)
        with torch.no_grad():
            net(torch.zeros(1, *shape))
        assert clamped == [], (name, shape, clamped)

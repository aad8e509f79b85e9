"""SMA-STN (models/sma_stn.py) on CPU at small inputs: shapes, gradients, the Table 4 switches,
the DE-Loss against its definition (methods.md, "SMA-STN network") and its guards, checkpoint
loading, and a tiny overfitting run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import models.sma_stn  # noqa: F401  (registers "sma_stn")
from models.registry import count_parameters, create_model
from models.sma_stn import PAIRS_I, PAIRS_J, de_loss
from tests.conftest import steps_to_fit


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def batch(b: int = 2, size: int = 64, seed: int = 0) -> torch.Tensor:
    return torch.randn(b, 4, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_forward_backward_shapes_and_gradients():
    torch.manual_seed(0)
    net = create_model("sma_stn", num_classes=3)
    # The non-local output BN starts at zero scale (identity block), which gives theta/phi/g/W_z
    # exactly zero gradient at step 0; move it so that every parameter must receive a gradient.
    torch.nn.init.constant_(net.nonlocal_block.w_z[1].weight, 0.5)
    out = net(batch())
    assert out.logits.shape == (2, 3)
    assert out.features.shape == (2, 4, 512)
    alpha = out.attention["segments"]
    assert alpha.shape == (2, 4)
    torch.testing.assert_close(alpha.sum(1), torch.ones(2))
    assert out.attention["nonlocal"].shape == (2, 4, 4, 4)          # 64 px -> 2x2 map, N = 4
    total, parts = net.loss(out, torch.tensor([0, 2]))
    total.backward()
    assert set(parts) == {"loss", "ce", "de"} and all(np.isfinite(v) for v in parts.values())
    for name, p in net.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_other_input_sizes_and_bad_shape():
    torch.manual_seed(0)
    net = create_model("sma_stn", num_classes=5).eval()
    with torch.no_grad():
        assert net(batch(1, 112)).attention["nonlocal"].shape == (1, 4, 16, 16)
        assert net(batch(1, 32)).logits.shape == (1, 5)
    with pytest.raises(ValueError, match="B, 4, 3, H, W"):
        net(torch.zeros(1, 3, 3, 64, 64))


def test_stma_switch_removes_nonlocal_and_attention():
    torch.manual_seed(0)
    on = create_model("sma_stn", num_classes=3)
    off = create_model("sma_stn", num_classes=3, stma=False)
    assert off.nonlocal_block is None and off.segment_score is None
    assert not any("nonlocal" in n or "segment_score" in n for n, _ in off.named_parameters())
    assert count_parameters(on) - count_parameters(off) == 526_592 + 512  # non-local + q
    off.load_state_dict(on.state_dict(), strict=False)                  # same backbone and FC
    torch.nn.init.constant_(on.nonlocal_block.w_z[1].weight, 0.5)
    on.eval(), off.eval()
    x = batch()
    with torch.no_grad():
        out_on, out_off = on(x), off(x)
    assert out_off.attention == {}
    assert not torch.allclose(out_on.logits, out_off.logits)
    # without STMA the classifier sees the plain mean of the four segment features
    torch.testing.assert_close(out_off.logits, off.fc(out_off.features.mean(1)))


def test_de_loss_switch_leaves_cross_entropy():
    torch.manual_seed(0)
    net = create_model("sma_stn", num_classes=3, de_loss=False)
    out = net(batch())
    target = torch.tensor([1, 2])
    total, parts = net.loss(out, target)
    torch.testing.assert_close(total, torch.nn.functional.cross_entropy(out.logits, target))
    assert parts["de"] > 0                                   # still reported, not trained
    net.use_de_loss = True
    total_de, parts_de = net.loss(out, target)
    assert total_de.item() == pytest.approx(parts["ce"] + 0.03 * parts["de"], rel=1e-6)


def reference_de_loss(features: np.ndarray) -> float:
    """Eqs. 9-11 written out for one sample, float64, sample standard deviation."""
    d = np.array([np.linalg.norm(features[i] - features[j])
                  for i in range(4) for j in range(i + 1, 4)])
    return 1.0 - np.std((d - d.mean()) / (d.max() - d.min()), ddof=1)


def test_de_loss_matches_reference_definition():
    assert list(zip(PAIRS_I.tolist(), PAIRS_J.tolist())) == [(0, 1), (0, 2), (0, 3), (1, 2),
                                                            (1, 3), (2, 3)]
    feats = torch.randn(5, 4, 16, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    expected = [reference_de_loss(f) for f in feats.numpy()]
    np.testing.assert_allclose(de_loss(feats).numpy(), expected, rtol=1e-5)
    # scale free: only the shape of the distances counts
    torch.testing.assert_close(de_loss(10 * feats), de_loss(feats), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", ["identical", "equidistant"])
def test_de_loss_finite_when_distances_are_equal(case):
    """max == min: all four features equal (zero distances), or four orthonormal features (all
    six distances sqrt 2). Both must give L_DE = 1 with a finite (zero) gradient."""
    if case == "identical":
        feats = torch.ones(2, 1, 8).repeat(1, 4, 1)             # (2, 4, 8)
    else:
        feats = torch.eye(8)[:4].repeat(2, 1, 1)                # (2, 4, 8)
    feats.requires_grad_(True)
    loss = de_loss(feats)
    torch.testing.assert_close(loss, torch.ones(2))
    loss.mean().backward()
    assert torch.isfinite(feats.grad).all()
    torch.testing.assert_close(feats.grad, torch.zeros_like(feats))


def points_from_distances(d: dict[tuple[int, int], float], dim: int = 8) -> torch.Tensor:
    """Four points in R^dim with the given pairwise distances (classical MDS), (4, dim)."""
    D = np.zeros((4, 4))
    for (i, j), v in d.items():
        D[i, j] = D[j, i] = v
    centre = np.eye(4) - 1 / 4
    gram = -0.5 * centre @ (D ** 2) @ centre
    w, v = np.linalg.eigh(gram)
    x = v * np.sqrt(np.clip(w, 0, None))                        # (4, 4)
    np.testing.assert_allclose(np.linalg.norm(x[:, None] - x[None], axis=-1), D, atol=1e-6)
    return torch.from_numpy(np.pad(x, ((0, 0), (0, dim - 4))))


def test_de_loss_decreases_as_distances_spread():
    """Closest pair 2, farthest 3, the four others at 2.5 -+ t: as t grows they move apart toward
    the two ends, the (range-normalised) spread grows and L_DE falls, from 1 - sqrt(0.1) at t = 0
    to its minimum 1 - sqrt(0.3) at t = 0.5 (three pairs at each end)."""
    losses = []
    for t in np.linspace(0, 0.5, 6):
        f = points_from_distances({(0, 1): 2, (0, 2): 2.5 - t, (0, 3): 2.5 - t,
                                   (1, 2): 2.5 + t, (1, 3): 2.5 + t, (2, 3): 3})
        losses.append(de_loss(f[None]).item())
    assert all(a > b for a, b in zip(losses, losses[1:])), losses
    assert losses[0] == pytest.approx(1 - np.sqrt(0.1), abs=1e-5)
    assert losses[-1] == pytest.approx(1 - np.sqrt(0.3), abs=1e-5)


def test_backbone_checkpoint(tmp_path):
    torch.manual_seed(0)
    src = create_model("sma_stn", num_classes=3)
    state = {f"module.{k}": v for k, v in src.backbone.state_dict().items()}
    state["fc.weight"] = torch.zeros(1000, 512)                 # an ImageNet head is dropped
    path = tmp_path / "resnet18.pt"
    torch.save({"state_dict": state}, path)
    torch.manual_seed(1)
    net = create_model("sma_stn", num_classes=3, backbone_checkpoint=str(path))
    for k, v in src.backbone.state_dict().items():
        torch.testing.assert_close(net.backbone.state_dict()[k], v)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        create_model("sma_stn", num_classes=3, backbone_checkpoint=str(tmp_path / "none.pt"))
    del state["module.layer4.1.conv2.weight"]
    state["module.extra.weight"] = torch.zeros(1)
    torch.save(state, path)
    with pytest.raises(ValueError, match="layer4.1.conv2.weight.*extra.weight"):
        create_model("sma_stn", num_classes=3, backbone_checkpoint=str(path))


def test_parameter_count():
    net = create_model("sma_stn", num_classes=3)
    n = count_parameters(net)
    print(f"\nSMA-STN trainable parameters at 3 classes: {n:,}"
          f" (ResNet18 trunk {count_parameters(net.backbone):,},"
          f" non-local {count_parameters(net.nonlocal_block):,})")
    assert count_parameters(net.backbone) == 11_176_512             # torchvision resnet18 - fc
    assert n == 11_176_512 + 526_592 + 512 + 512 * 3 + 3


def test_overfits_a_tiny_batch():
    """8 random clips of 3 classes at 48 px (a 2x2 last map): 100 % train accuracy, in eval mode
    (BN running statistics), within a few dozen Adam steps."""
    torch.manual_seed(0)
    net = create_model("sma_stn", num_classes=3)
    x = batch(8, 48, seed=1)
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    assert steps_to_fit(net, x, y, lr=1e-3, steps=30) is not None

"""L_AI: the geometric inverse restores the input, the loss is ~0 for an equivariant model and clearly positive
for one that is not, the masked region is right, and the term runs through Method.training_step with the model."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn

from cmrseg.config.schema import MethodConfig, TermConfig
from cmrseg.errors import ConfigError
from cmrseg.losses.augmentation_invariance import (AugmentationInvariance, apply_geometric, invert_geometric,
                                                   map_distance, sample_geometric, valid_region)
from cmrseg.losses.registry import create_loss
from cmrseg.engine.step import training_loss
from cmrseg.methods.base import Method, StepContext, term_scale

pytestmark = pytest.mark.usefixtures("one_thread")


class Pointwise(nn.Module):
    """Logits that depend on each pixel's own intensity only: equivariant to every geometric transform."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"logits": self.conv(x)}


class WithRamp(Pointwise):
    """Pointwise logits plus a fixed left-to-right ramp: not equivariant to rotations or flips."""

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        ramp = torch.linspace(-3, 3, x.shape[-1]).expand_as(x)
        return {"logits": self.conv(x) + torch.cat([ramp, -ramp, 0 * ramp, 0 * ramp], 1)}


def _smooth(n: int = 4, size: int = 32) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    base = torch.stack([torch.exp(-((xx - a) ** 2 + (yy + a / 2) ** 2) * 3) for a in torch.linspace(-0.4, 0.4, n)])
    return base[:, None]


def test_quarter_turns_and_flips_are_inverted_exactly() -> None:
    x = torch.randn(8, 3, 16, 16)
    t = sample_geometric(8, rot90=True, flip=True, generator=torch.Generator().manual_seed(0))
    assert set(t.k.tolist()) != {0} and t.flip.any() and not t.flip.all()
    y = apply_geometric(x, t)
    assert not torch.equal(y, x)
    assert torch.equal(invert_geometric(y, t), x)
    assert torch.equal(valid_region(x, t), torch.ones(8, 1, 16, 16))
    i = int(torch.nonzero(t.flip)[0])  # the order: quarter turns first, then the flip
    assert torch.equal(y[i], torch.rot90(x[i], int(t.k[i]), dims=(-2, -1)).flip(-1))


def test_small_rotations_are_inverted_inside_the_valid_region() -> None:
    x = _smooth()
    t = sample_geometric(4, rot90=True, flip=True, max_degrees=15, generator=torch.Generator().manual_seed(1))
    back = invert_geometric(apply_geometric(x, t), t)
    mask = valid_region(x, t)
    assert 0.6 < mask.mean() < 1.0  # corners rotated out of the image are masked
    assert bool(mask[:, :, 12:20, 12:20].all())  # the centre is always valid
    assert ((back - x).abs() * mask).max() < 0.03  # bilinear twice on a smooth image


def test_loss_is_zero_for_an_equivariant_model_and_positive_otherwise() -> None:
    torch.manual_seed(0)
    x = _smooth()
    geometric_only = AugmentationInvariance(max_degrees=0.0, intensity={"p": 0.0})
    eq = Pointwise()
    with torch.no_grad():
        eq.conv.weight.mul_(10)
    assert geometric_only({"logits": eq(x)["logits"]}, {"image": x}, eq).item() < 1e-10
    rotating = AugmentationInvariance(max_degrees=15.0, intensity={"p": 0.0})
    assert rotating({"logits": eq(x)["logits"]}, {"image": x}, eq).item() < 1e-3
    bad = WithRamp()
    bad.conv = eq.conv
    values = [geometric_only({"logits": bad(x)["logits"]}, {"image": x}, bad).item() for _ in range(5)]
    assert max(values) > 0.1  # not equivariant (one of the draws transforms every image)
    distorted = AugmentationInvariance(max_degrees=0.0, intensity={"gamma": (0.5, 0.5), "contrast": (2, 2)})
    assert distorted({"logits": eq(x)["logits"]}, {"image": x}, eq).item() > 1e-3  # intensity-dependent model


def test_map_distances_known_values() -> None:
    p = torch.tensor([0.5, 0.5])[None, :, None, None]
    q = torch.tensor([0.9, 0.1])[None, :, None, None]
    assert map_distance(p, q, "mse").item() == pytest.approx(0.4 ** 2 * 2)
    kl = 0.5 * ((0.5 - 0.9) * math.log(0.5 / 0.9) + (0.5 - 0.1) * math.log(0.5 / 0.1))
    assert map_distance(p, q, "kl").item() == pytest.approx(kl, rel=1e-5)
    with pytest.raises(ConfigError, match="distance"):
        AugmentationInvariance(distance="l1")


def test_the_method_passes_the_model_and_gradients_flow_through_both_branches() -> None:
    torch.manual_seed(0)
    method = Method(MethodConfig(terms=[TermConfig(loss="augmentation_invariance", stream="images",
                                                   params={"intensity": {"p": 0.0}})]))
    model = WithRamp()
    x = _smooth()
    loss, logs = training_loss(method, {"images": {"image": x}}, StepContext(model, 0))
    assert loss.item() > 0 and "loss/augmentation_invariance@images" in logs
    loss.backward()
    assert model.conv.weight.grad.abs().sum() > 0

    def grad(detach: bool) -> torch.Tensor:
        model.zero_grad()
        torch.manual_seed(1)  # the same transforms for both
        term = create_loss("augmentation_invariance", {"detach_reference": detach, "intensity": {"p": 0.0}})
        term(model(x), {"image": x}, model).backward()
        return model.conv.weight.grad.clone()

    assert not torch.allclose(grad(True), grad(False))  # the reference branch contributes unless detached


def test_term_start_switches_a_weight_on_hard() -> None:
    term = TermConfig(loss="dice_ce", start=100)
    assert term_scale(term, 0) == term_scale(term, 99) == 0.0
    assert term_scale(term, 100) == 1.0
    ramped = TermConfig(loss="dice_ce", start=100, ramp_up=50)
    assert term_scale(ramped, 100) == pytest.approx(math.exp(-5)) and term_scale(ramped, 150) == 1.0

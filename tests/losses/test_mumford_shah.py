"""Mumford-Shah losses against hand-computed values (Kim & Ye, IEEE TIP 2020)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from cmrseg.errors import ConfigError
from cmrseg.labels import BACKGROUND, LV, MYO, RV
from cmrseg.models.auxiliary import AuxiliaryNetwork
from cmrseg.losses.mumford_shah import (enclosure_penalty, inclusion_penalty, ms_bias, ms_data_term,
                                        ms_piecewise_constant, nested_to_classes, relative_tv_loss,
                                        total_variation, tv_loss)
from cmrseg.losses.registry import available_losses, create_loss


def two_region(a: float = 1.0, b: float = 3.0) -> tuple[torch.Tensor, torch.Tensor]:
    """4x4 image, left two columns ``a``, right two ``b``; and its exact one-hot maps (1, 2, 4, 4)."""
    right = torch.zeros(1, 1, 4, 4)
    right[..., 2:] = 1
    return a + (b - a) * right, torch.cat([1 - right, right], 1)


# (a) two regions -------------------------------------------------------------------------------------------
def test_exact_partition_gives_zero_and_is_label_permutation_invariant() -> None:
    img, probs = two_region()
    assert float(ms_data_term(img, probs)) == pytest.approx(0.0, abs=1e-10)
    assert float(ms_data_term(img, probs.flip(1))) == pytest.approx(0.0, abs=1e-10)  # swapped labels


def test_wrong_partitions_hand_values() -> None:
    img, _ = two_region(1.0, 3.0)
    # class 0 = first three columns (8 px of 1, 4 px of 3): c0 = 5/3, sum of residuals = 8 (2/3)^2 + 4 (4/3)^2
    # = 32/3; class 1 = last column (all 3): 0. Mean over 16 px: (32/3) / 16 = 2/3.
    p0 = torch.zeros(1, 1, 4, 4)
    p0[..., :3] = 1
    assert float(ms_data_term(img, torch.cat([p0, 1 - p0], 1), eps=0.0)) == pytest.approx(2 / 3, abs=1e-6)
    # partition orthogonal to the edge: each class half 1, half 3 -> c = 2, residual 1 everywhere -> 1.
    p0 = torch.zeros(1, 1, 4, 4)
    p0[..., :2, :] = 1
    assert float(ms_data_term(img, torch.cat([p0, 1 - p0], 1), eps=0.0)) == pytest.approx(1.0, abs=1e-6)
    # uniform 0.5 / 0.5: both centroids 2, each class contributes 0.5 * 1 -> 1.
    assert float(ms_data_term(img, torch.full((1, 2, 4, 4), 0.5), eps=0.0)) == pytest.approx(1.0, abs=1e-6)


# (b) soft probabilities on a 2x2 image ---------------------------------------------------------------------
def test_soft_2x2_hand_calculation() -> None:
    img = torch.tensor([[[[0.0, 1.0], [2.0, 3.0]]]])
    p0 = torch.tensor([[[[0.9, 0.6], [0.3, 0.2]]]])
    probs = torch.cat([p0, 1 - p0], 1)
    # c0 = (0 .9 + 1 .6 + 2 .3 + 3 .2) / 2.0 = 0.9;  c1 = (0 .1 + 1 .4 + 2 .7 + 3 .8) / 2.0 = 2.1
    # class 0: .9 .81 + .6 .01 + .3 1.21 + .2 4.41 = 1.98;  class 1: .1 4.41 + .4 1.21 + .7 .01 + .8 .81 = 1.58
    # data = (1.98 + 1.58) / 4 = 0.89
    assert float(ms_data_term(img, probs, eps=0.0)) == pytest.approx(0.89, abs=1e-6)
    # TV(p0): horizontal |.6-.9|, |.2-.3| -> mean .2; vertical |.3-.9|, |.2-.6| -> mean .5; TV(p1) = TV(p0) = .7
    assert float(tv_loss(probs)) == pytest.approx(1.4, abs=1e-6)
    assert float(ms_piecewise_constant(img, probs, tv_weight=0.5, eps=0.0)) == pytest.approx(0.89 + 0.7, abs=1e-6)
    # eps only perturbs the centroids at the 1e-6 level
    assert float(ms_data_term(img, probs)) == pytest.approx(0.89, abs=1e-5)


# (c) total variation ----------------------------------------------------------------------------------------
def test_tv_of_step_image() -> None:
    step = torch.zeros(1, 1, 4, 5)
    step[..., 2:] = 2.0  # one jump of 2 per row: 4 of the 4 x 4 horizontal differences -> mean 2 / 4
    assert total_variation(step).tolist() == [[pytest.approx(0.5)]]
    assert total_variation(step.transpose(-1, -2)).tolist() == [[pytest.approx(0.5)]]  # same for a row step
    assert float(tv_loss(torch.ones(2, 3, 4, 5))) == 0.0
    assert float(tv_loss(torch.zeros(1, 1, 1, 1))) == 0.0  # no differences: 0, not NaN
    # hard two-class maps of a step: the edge is counted in both classes, 2 * 1 / (W - 1)
    _, probs = two_region()
    assert float(tv_loss(probs)) == pytest.approx(2 / 3)


# (d) empty classes ------------------------------------------------------------------------------------------
def test_empty_class_is_finite_with_finite_gradients() -> None:
    img, onehot = two_region()
    probs = torch.cat([onehot, torch.zeros(1, 1, 4, 4)], 1).requires_grad_()  # class 2 exactly empty
    bias = torch.ones(1, 1, 4, 4, requires_grad=True)
    for loss in (ms_piecewise_constant(img, probs, 0.1), ms_bias(img, probs, bias, 0.1, 0.1)):
        assert torch.isfinite(loss)
        g_p, g_b = torch.autograd.grad(loss, [probs, bias], allow_unused=True)
        assert torch.isfinite(g_p).all() and (g_b is None or torch.isfinite(g_b).all())
    # through a softmax with a class driven to (numerically) zero
    logits = torch.cat([10 * onehot, torch.full((1, 1, 4, 4), -200.0)], 1).requires_grad_()
    term = create_loss("mumford_shah", {"tv_weight": 0.1})
    loss = term({"logits": logits}, {"image": img})
    (g,) = torch.autograd.grad(loss, [logits])
    assert torch.isfinite(loss) and torch.isfinite(g).all()


# (e) multichannel -------------------------------------------------------------------------------------------
def test_multichannel_is_sum_over_channels() -> None:
    g = torch.Generator().manual_seed(0)
    img = torch.randn(2, 3, 6, 7, generator=g)
    probs = torch.softmax(torch.randn(2, 4, 6, 7, generator=g), 1)
    per_channel = sum(ms_data_term(img[:, c : c + 1], probs) for c in range(3))
    assert float(ms_data_term(img, probs)) == pytest.approx(float(per_channel), rel=1e-6)
    # the TV term is on the maps, counted once
    assert float(ms_piecewise_constant(img, probs, 0.3)) == pytest.approx(
        float(per_channel + 0.3 * tv_loss(probs)), rel=1e-6)


# (f) bias field ---------------------------------------------------------------------------------------------
def test_bias_one_equals_plain_and_true_bias_explains_image() -> None:
    g = torch.Generator().manual_seed(1)
    img = torch.randn(2, 2, 5, 6, generator=g)
    probs = torch.softmax(torch.randn(2, 3, 5, 6, generator=g), 1)
    ones = torch.ones(2, 1, 5, 6)
    assert float(ms_bias(img, probs, ones, 0.2, 5.0)) == pytest.approx(float(ms_piecewise_constant(img, probs, 0.2)),
                                                                       rel=1e-6)
    clean, onehot = two_region(1.0, 3.0)
    b0 = torch.linspace(0.6, 1.4, 4).view(1, 1, 4, 1).expand(1, 1, 4, 4)  # vertical ramp, across both regions
    img = b0 * clean
    at_b0, at_1 = float(ms_bias(img, onehot, b0)), float(ms_bias(img, onehot, torch.ones_like(b0)))
    assert at_b0 == pytest.approx(0.0, abs=1e-6)
    assert at_1 > 0.05 and at_1 > at_b0
    # scale invariance: data term and relative bias TV unchanged by b -> s b
    assert float(ms_bias(img, onehot, 1.7 * b0, 0.0, 1.0)) == pytest.approx(float(ms_bias(img, onehot, b0, 0.0, 1.0)),
                                                                          rel=1e-5)
    assert float(relative_tv_loss(3 * b0)) == pytest.approx(float(relative_tv_loss(b0)), rel=1e-5)


# (g) nested multi-class -------------------------------------------------------------------------------------
def nested_phantom() -> tuple[torch.Tensor, torch.Tensor]:
    """Label map (1, 8, 8) with LV inside a Myo ring and a separate RV; and its binary nested psi."""
    lab = torch.full((1, 8, 8), BACKGROUND)
    lab[:, 1:6, 3:8] = MYO
    lab[:, 2:5, 4:7] = LV
    lab[:, 2:6, 0:2] = RV
    psi = torch.stack([lab == LV, (lab == LV) | (lab == MYO), lab == RV], 1).float()
    return lab, psi


def test_nested_conversion_of_a_perfect_configuration_is_one_hot() -> None:
    lab, psi = nested_phantom()
    phi = nested_to_classes(psi)
    assert phi.shape == (1, 4, 8, 8)
    assert torch.equal(phi, torch.nn.functional.one_hot(lab, 4).permute(0, 3, 1, 2).float())
    assert float(inclusion_penalty(psi)) == 0.0
    soft = torch.tensor([0.2, 0.7, 0.4]).view(1, 3, 1, 1)  # hand values: LV .2, Myo .7 * .8, RV .4, BG .3 * .6
    assert nested_to_classes(soft).flatten().tolist() == pytest.approx([0.18, 0.4, 0.56, 0.2])


def test_inclusion_penalty() -> None:
    _, psi = nested_phantom()
    bad = psi.clone()
    bad[0, 0, 0, 0] = 1.0  # LV outside LV+Myo at one pixel of 64: (1 * 0 - 1)^2 / 64
    assert float(inclusion_penalty(bad)) == pytest.approx(1 / 64)
    soft = torch.tensor([0.5, 0.5, 0.0]).view(1, 3, 1, 1)  # (.25 - .5)^2
    assert float(inclusion_penalty(soft)) == pytest.approx(0.0625)
    nested_soft = torch.tensor([0.3, 1.0, 0.0]).view(1, 3, 1, 1)  # psi2 = 1 contains anything
    assert float(inclusion_penalty(nested_soft)) == 0.0


def test_enclosure_penalty_counts_the_missing_ring() -> None:
    """Known answers on hard masks: a 4 px disc in a 3 px ring is enclosed at radius 2; at radius 3 the square
    window reaches past the ring on the diagonals, and the penalty is the share of pixels of the disc's square
    dilation outside LV+Myo (likewise without the ring)."""
    yy, xx = np.mgrid[:32, :32]
    disc = (yy - 16) ** 2 + (xx - 16) ** 2 <= 4 ** 2
    ring = (yy - 16) ** 2 + (xx - 16) ** 2 <= 7 ** 2
    def psi(lv: np.ndarray, lvmyo: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.stack([lv, lvmyo, np.zeros_like(lv)])[None].astype(np.float32))
    assert float(enclosure_penalty(psi(disc, ring), 2)) == 0.0
    grown = ndimage.binary_dilation(disc, np.ones((7, 7), bool))
    assert float(enclosure_penalty(psi(disc, ring), 3)) == pytest.approx((grown & ~ring).sum() / 32 ** 2)
    assert (grown & ~ring).sum() > 0
    grown = ndimage.binary_dilation(disc, np.ones((5, 5), bool))
    assert float(enclosure_penalty(psi(disc, disc), 2)) == pytest.approx((grown & ~disc).sum() / 32 ** 2)
    assert float(inclusion_penalty(psi(disc, disc))) == 0.0  # what the inclusion term alone accepts
    with pytest.raises(ConfigError, match="radius"):
        enclosure_penalty(psi(disc, ring), 0)


def test_ms_nested_enclosure_term_is_added_with_its_weight() -> None:
    lab, psi = nested_phantom()
    img = torch.tensor([0.0, 2.0, 1.0, 3.0])[lab][:, None]
    no_ring = psi.clone()
    no_ring[:, 1] = no_ring[:, 0]  # LV+Myo = LV: inclusion holds, enclosure does not
    base = create_loss("ms_nested", {"tv_weight": 0.0, "use_bias": False})
    encl = create_loss("ms_nested", {"tv_weight": 0.0, "use_bias": False, "enclosure_weight": 2.0,
                                     "enclosure_px": 1})
    expected = float(base({"psi": no_ring}, {"image": img})) + 2.0 * float(enclosure_penalty(no_ring, 1))
    assert float(encl({"psi": no_ring}, {"image": img})) == pytest.approx(expected)
    assert float(enclosure_penalty(no_ring, 1)) > 0


def test_ms_nested_term_zero_on_perfect_piecewise_constant_image() -> None:
    lab, psi = nested_phantom()
    img = torch.tensor([0.0, 2.0, 1.0, 3.0])[lab][:, None]  # BG, RV, Myo, LV intensities
    term = create_loss("ms_nested", {"tv_weight": 0.0, "use_bias": False})
    assert float(term({"psi": psi}, {"image": img})) == pytest.approx(0.0, abs=1e-6)
    term = create_loss("ms_nested", {"tv_weight": 0.0, "bias_tv_weight": 0.0})
    assert float(term({"psi": psi, "bias": torch.ones(1, 1, 8, 8)}, {"image": img})) == pytest.approx(0.0, abs=1e-6)
    psi_soft = psi.clamp(0.1, 0.9).requires_grad_()
    loss = create_loss("ms_nested")({"psi": psi_soft, "bias": torch.ones(1, 1, 8, 8)}, {"image": img})
    (g,) = torch.autograd.grad(loss, [psi_soft])
    assert loss > 0 and torch.isfinite(g).all()


# (h) gradient descent sanity --------------------------------------------------------------------------------
def test_adam_on_free_logits_segments_two_intensity_image() -> None:
    torch.manual_seed(0)
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    truth = ((yy - 14) ** 2 + (xx - 17) ** 2 < 8**2).float()
    img = (truth + 0.1 * torch.randn(32, 32))[None, None]
    logits = (0.01 * torch.randn(1, 2, 32, 32)).requires_grad_()
    opt = torch.optim.Adam([logits], lr=0.1)
    for _ in range(100):
        loss = ms_piecewise_constant(img, torch.softmax(logits, 1), tv_weight=0.05)
        opt.zero_grad()
        loss.backward()
        opt.step()
    pred = logits.argmax(1)[0].float()

    def dice(a: torch.Tensor, b: torch.Tensor) -> float:
        return float(2 * (a * b).sum() / (a.sum() + b.sum()))

    assert max(dice(pred, truth), dice(1 - pred, truth)) > 0.95  # clusters are unordered


# registry ---------------------------------------------------------------------------------------------------
def test_registered_and_helpful_errors() -> None:
    assert {"mumford_shah", "ms_nested"} <= set(available_losses())
    img, _ = two_region()
    with pytest.raises(ConfigError, match="bias_head"):
        create_loss("mumford_shah", {"use_bias": True})({"logits": torch.zeros(1, 2, 4, 4)}, {"image": img})
    with pytest.raises(ConfigError, match="nested"):
        create_loss("ms_nested")({"logits": torch.zeros(1, 4, 4, 4)}, {"image": img})


def test_bias_term_shifts_z_scored_images_to_min_zero() -> None:
    clean, onehot = two_region(1.0, 3.0)
    b0 = torch.linspace(0.6, 1.4, 4).view(1, 1, 4, 1).expand(1, 1, 4, 4)
    raw = b0 * clean
    z = (raw - raw.mean()) / raw.std()  # z-scoring breaks the multiplicative model ...
    raw_min0 = raw - raw.amin()
    term = create_loss("mumford_shah", {"use_bias": True, "tv_weight": 0.0, "bias_tv_weight": 0.0})
    logits = 20 * onehot
    # ... the term undoes the offset: same value as on (raw - min) / std
    expect = float(ms_bias(raw_min0 / raw.std(), onehot, b0))
    assert float(term({"logits": logits, "bias": b0}, {"image": z})) == pytest.approx(expect, abs=1e-5)
    # and the plain data term does not care about the shift
    assert float(ms_data_term(z + 5.0, onehot)) == pytest.approx(float(ms_data_term(z, onehot)), abs=1e-4)


# class floor prior ------------------------------------------------------------------------------------------
def test_class_floor_hand_values() -> None:
    from cmrseg.losses.mumford_shah import class_floor_penalty

    # batch of two 2x2 images, 2 classes: class 1 holds 1 px of image 0 and 0 px of image 1 -> m1 = 1/8
    p = torch.zeros(2, 2, 2, 2)
    p[:, 0] = 1.0
    p[0, 0, 0, 0], p[0, 1, 0, 0] = 0.0, 1.0
    assert float(class_floor_penalty(p, floor=0.1)) == pytest.approx(0.0, abs=1e-7)  # m = (7/8, 1/8) >= 0.1
    assert float(class_floor_penalty(p, floor=0.5)) == pytest.approx(math.log(0.5 / 0.125), abs=1e-5)
    # per image: image 0 has m1 = 1/4 -> log 2; image 1 has m1 = 0 -> log(0.5 / 1e-8); mean of the two
    expect = (math.log(2.0) + math.log(0.5 / 1e-8)) / 2
    assert float(class_floor_penalty(p, floor=0.5, per_image=True)) == pytest.approx(expect, rel=1e-5)
    with pytest.raises(ValueError, match="floor"):
        class_floor_penalty(p, floor=0.6)  # above 1 / K


def test_class_floor_term_gradient_revives_an_empty_class() -> None:
    logits = torch.zeros(1, 3, 4, 4)
    logits[:, 2] = -10.0  # class 2 nearly empty
    logits.requires_grad_()
    term = create_loss("class_floor", {"floor": 0.05})
    value = term({"logits": logits}, {"image": torch.zeros(1, 1, 4, 4)})
    (g,) = torch.autograd.grad(value, [logits])
    assert float(value.detach()) > 0 and bool((g[:, 2] < 0).all())  # descent raises the empty class's logits
    assert float(term({"logits": torch.zeros(1, 3, 4, 4)}, {})) == 0.0  # balanced classes: no cost


def test_padding_outside_valid_mask_is_ignored() -> None:
    """With ``batch["valid"]``, whatever the padding holds cannot change the loss (centroids, residuals)."""
    from cmrseg.losses.mumford_shah import MumfordShah

    torch.manual_seed(0)
    img = torch.rand(2, 1, 16, 16)
    valid = torch.ones(2, 1, 16, 16)
    valid[..., :, 12:] = 0
    logits = torch.randn(2, 4, 16, 16)
    term = MumfordShah(tv_weight=0.1)
    a, b = img.clone(), img.clone()
    a[..., :, 12:] = 0.0
    b[..., :, 12:] = 100.0
    la = term({"logits": logits}, {"image": a, "valid": valid})
    lb = term({"logits": logits}, {"image": b, "valid": valid})
    assert torch.allclose(la, lb)
    unmasked = term({"logits": logits}, {"image": b})
    assert unmasked > 10 * lb  # without the mask the padding dominates


def test_nested_term_ignores_padding_too() -> None:
    from cmrseg.losses.mumford_shah import MumfordShahNested

    torch.manual_seed(1)
    img = torch.rand(1, 1, 12, 12)
    valid = torch.ones(1, 1, 12, 12)
    valid[..., 9:, :] = 0
    psi = torch.rand(1, 3, 12, 12)
    term = MumfordShahNested(use_bias=False)
    a, b = img.clone(), img.clone()
    a[..., 9:, :], b[..., 9:, :] = -5.0, 50.0
    assert torch.allclose(term({"psi": psi}, {"image": a, "valid": valid}),
                          term({"psi": psi}, {"image": b, "valid": valid}))


def test_roi_margin_keeps_far_background_structures_out_of_the_data_term() -> None:
    """A bright 'heart' disc predicted as LV on a dark background, and a bright 'fat' blob far away that the
    prediction calls background: over the whole image the blob makes the background class inhomogeneous
    (a large data term); with ``roi_margin`` only pixels near the predicted foreground count, so the same
    prediction scores (almost) zero."""
    from cmrseg.losses.mumford_shah import MumfordShah, foreground_roi

    yy, xx = torch.meshgrid(torch.arange(48.0), torch.arange(48.0), indexing="ij")
    heart = (yy - 14) ** 2 + (xx - 14) ** 2 <= 6 ** 2
    fat = (yy - 38) ** 2 + (xx - 38) ** 2 <= 5 ** 2
    image = (heart | fat).float()[None, None]
    logits = torch.zeros(1, 4, 48, 48)
    logits[:, 0] = 10.0 * (~heart)
    logits[:, LV] = 10.0 * heart
    whole = MumfordShah(tv_weight=0.0)({"logits": logits}, {"image": image})
    local = MumfordShah(tv_weight=0.0, roi_margin=4)({"logits": logits}, {"image": image})
    assert float(whole) > 0.01 and float(local) < 1e-4
    roi = foreground_roi(torch.softmax(logits, 1), 4)[0, 0].bool()
    assert roi[14, 14] and roi[14, 24] and not roi[14, 25] and not fat[roi].any()  # radius 6 + margin 4
    assert foreground_roi(torch.softmax(torch.zeros(1, 4, 8, 8).index_fill(1, torch.tensor([0]), 5.0), 1),
                          2).all()  # nothing predicted: the whole image
    with pytest.raises(ConfigError, match="roi_margin"):
        MumfordShah(roi_margin=-1)


class _FixedTeacher(torch.nn.Module):
    """A 'segmenter' that always predicts the same logits (the teacher's known answer)."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = logits

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"logits": self.logits.expand(x.shape[0], -1, -1, -1)}


def test_roi_teacher_fixes_the_roi_where_the_own_prediction_drifted() -> None:
    """The network wrongly calls a far bright 'fat' blob LV; with an own-prediction ROI the blob is in the data
    term, with a teacher that sees only the heart it is not: the loss equals the plain data term restricted to
    the teacher's foreground dilated by the margin."""
    from cmrseg.losses.mumford_shah import MumfordShah, foreground_roi

    yy, xx = torch.meshgrid(torch.arange(48.0), torch.arange(48.0), indexing="ij")
    heart = (yy - 14) ** 2 + (xx - 14) ** 2 <= 6 ** 2
    fat = (yy - 38) ** 2 + (xx - 38) ** 2 <= 5 ** 2
    image = (heart.float() + 0.5 * fat.float())[None, None]
    student = torch.zeros(1, 4, 48, 48)
    student[:, 0] = 10.0 * ~(heart | fat)
    student[:, LV] = 10.0 * (heart | fat)  # the drift: fat called LV
    teacher = torch.zeros(1, 4, 48, 48)
    teacher[:, 0] = 10.0 * ~heart
    teacher[:, LV] = 10.0 * heart
    own = MumfordShah(tv_weight=0.0, roi_margin=4)
    fixed = MumfordShah(tv_weight=0.0, roi_margin=4)
    fixed.networks["roi_teacher"] = AuxiliaryNetwork(_FixedTeacher(teacher))
    probs = torch.softmax(student, 1)
    roi = foreground_roi(torch.softmax(teacher, 1), 4)
    assert not fat[roi[0, 0].bool()].any()
    expected = ms_piecewise_constant(image, probs, 0.0, valid=roi)
    got = fixed({"logits": student}, {"image": image})
    assert torch.allclose(got, expected)
    assert float(own({"logits": student}, {"image": image})) > float(got) + 1e-3  # the blob's 0.5 vs 1 costs
    with pytest.raises(ConfigError, match="roi_margin"):
        MumfordShah(roi_teacher="runs/x/checkpoints/best.pt")


def test_roi_teacher_loads_a_frozen_segmenter_from_a_checkpoint(tmp_path) -> None:
    from cmrseg.config.schema import ModelConfig
    from cmrseg.checkpoint import save_checkpoint
    from cmrseg.errors import InputError
    from cmrseg.losses.mumford_shah import MumfordShah
    from cmrseg.models.registry import create_model

    cfg = ModelConfig.model_validate({"name": "unet", "params": {"features": [4, 8], "num_classes": 4}})
    torch.manual_seed(0)
    net = create_model(cfg).eval()
    save_checkpoint(tmp_path / "best.pt", net, {"model": cfg.model_dump()})
    loss = MumfordShah(roi_margin=2, roi_teacher=str(tmp_path / "best.pt"))
    x = torch.randn(2, 1, 16, 16)
    assert not any(p.requires_grad for p in loss.teacher.parameters())
    assert torch.allclose(loss.teacher(x)["logits"], net(x)["logits"])
    wrong = MumfordShah(roi_margin=2, roi_teacher=str(tmp_path / "best.pt"))
    with pytest.raises(ConfigError, match="same classes"):
        wrong({"logits": torch.zeros(2, 3, 16, 16)}, {"image": x})
    with pytest.raises(InputError, match="does not exist"):
        MumfordShah(roi_margin=2, roi_teacher=str(tmp_path / "missing.pt"))

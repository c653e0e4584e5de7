"""Translator loss terms: L_IC known answers, position classes, L_SC, the GAN term's own discriminator,
reconstruction terms are 0 at a perfect reconstruction."""

from __future__ import annotations

import math

import pytest
import torch

from cmrseg.errors import ConfigError
from cmrseg.losses.registry import create_loss
from cmrseg.losses.translation import ImageGAN, intensity_constraint, intensity_order, position_class
from testkit import engine_term

pytestmark = pytest.mark.usefixtures("one_thread")


def test_intensity_constraint_is_zero_for_a_piecewise_constant_image() -> None:
    label = torch.randint(0, 4, (2, 16, 16))
    levels = torch.tensor([-1.0, 0.5, 2.0, 3.5])
    image = levels[label][:, None]
    assert intensity_constraint(image, label).item() == pytest.approx(0.0, abs=1e-9)
    assert intensity_constraint(image, label, include_background=True).item() == pytest.approx(0.0, abs=1e-9)


def test_intensity_constraint_matches_hand_computation() -> None:
    # one 2 x 3 image: BG (0) = {0, 10}, RV (1) = {1, 3}, Myo (2) = {2, 2}
    label = torch.tensor([[[0, 1, 2], [0, 1, 2]]])
    image = torch.tensor([[[[0.0, 1.0, 2.0], [10.0, 3.0, 2.0]]]])
    rv = ((1 - 2) ** 2 + (3 - 2) ** 2) / 6  # region mean 2; squared deviations over all 6 pixels
    bg = ((0 - 5) ** 2 + (10 - 5) ** 2) / 6
    loss = create_loss("intensity_constraint", {})
    got = loss({"fake_image": image}, {"label": label})
    assert got.item() == pytest.approx(rv, rel=1e-5)  # background excluded by default
    assert intensity_constraint(image, label, include_background=True).item() == pytest.approx(rv + bg, rel=1e-5)
    # batch mean: a second, constant image halves it
    two = intensity_constraint(torch.cat([image, torch.ones_like(image)]), label.expand(2, 2, 3))
    assert two.item() == pytest.approx(rv / 2, rel=1e-5)


def test_intensity_order_penalises_a_dark_lv_in_a_bright_ring_and_not_the_real_contrast() -> None:
    # image 0: LV 2, Myo 0, RV 1 (cine-like); image 1: the inverse contrast; image 2 has no RV
    label = torch.tensor([[[3, 2, 1]], [[3, 2, 1]], [[3, 2, 0]]])
    image = torch.tensor([[2.0, 0.0, 1.0], [0.0, 2.0, 1.0], [2.0, 0.0, 5.0]])[:, None, None, :]
    loss = create_loss("intensity_order", {"margin": 0.5})  # default pairs: LV > Myo, RV > Myo
    got = loss({"fake_image": image}, {"label": label})
    lv_myo = (0.0 + (0.5 + 2.0) + 0.0) / 3  # hinge per image, mean over the 3 images holding LV and Myo
    rv_myo = (0.0 + (0.5 + 1.0)) / 2  # only images 0 and 1 hold an RV
    assert got.item() == pytest.approx((lv_myo + rv_myo) / 2, rel=1e-6)
    assert intensity_order(image[:1], label[:1], [(3, 2), (1, 2)]).item() == 0.0
    with pytest.raises(ConfigError, match="pairs"):
        create_loss("intensity_order", {"brighter": [[3, 3]]})


def test_position_classes_and_the_spatial_constraint() -> None:
    pos = torch.tensor([0.0, 0.1, 0.2, 0.39, 0.4, 0.6, 0.8, 0.99, 1.0])
    assert position_class(pos).tolist() == [0, 0, 1, 1, 2, 3, 4, 4, 4]
    logits = torch.zeros(3, 5)
    batch = {"label_position": torch.tensor([0.0, 0.5, 1.0])}
    loss = create_loss("position_class", {})
    assert loss({"position_logits": logits}, batch).item() == pytest.approx(math.log(5))  # uniform guess
    sure = torch.full((3, 5), -20.0)
    sure[torch.arange(3), torch.tensor([0, 2, 4])] = 20.0
    both = loss({"position_logits": sure, "position_logits_fake": logits}, batch)
    assert both.item() == pytest.approx(math.log(5) / 2, rel=1e-4)  # mean of ~0 and ln 5
    with pytest.raises(ConfigError, match="position_classes"):
        create_loss("position_class", {"n_classes": 4})({"position_logits": logits}, batch)


def test_reconstruction_terms_are_zero_at_perfect_reconstruction_and_positive_otherwise() -> None:
    label = torch.randint(0, 4, (2, 8, 8))
    perfect = torch.nn.functional.one_hot(label, 4).permute(0, 3, 1, 2).float() * 40.0
    img, code, style = torch.randn(2, 1, 8, 8), torch.randn(2, 4, 2, 2), torch.randn(2, 8)
    out = {"recon_image": img, "real_image": img, "recon_label_logits": perfect, "cycle_label_logits": perfect,
           "content_fake": code, "content_label": code, "style_fake": style, "style": style}
    for name in ("t2i_image_recon", "t2i_label_recon", "t2i_cycle", "t2i_content_recon", "t2i_style_recon"):
        assert create_loss(name, {})(out, {"label": label}).item() == pytest.approx(0.0, abs=1e-6), name
    out["style_fake"] = style + 0.5
    assert create_loss("t2i_style_recon", {})(out, {}).item() == pytest.approx(0.5)
    with pytest.raises(ConfigError, match="label2image"):
        create_loss("t2i_cycle", {})({"logits": perfect}, {"label": label})


def test_gan_term_trains_its_discriminator_not_through_the_generator_backward() -> None:
    state = torch.get_rng_state()
    gan = ImageGAN(dim=4, n_scales=2, lr=1e-2, seed=3)
    assert torch.equal(torch.get_rng_state(), state)  # private RNG for the discriminator's init
    real = torch.randn(4, 1, 32, 32) * 0.2 + 1.0
    fake = torch.randn(4, 1, 32, 32, requires_grad=True)
    before = [p.detach().clone() for p in gan.discriminator.parameters()]
    g, _ = engine_term(gan, {"fake_image": fake, "real_image": real}, {})
    assert any(not torch.equal(a, p) for a, p in zip(before, gan.discriminator.parameters()))  # D stepped
    g.backward()
    assert fake.grad.abs().sum() > 0
    assert all(p.grad is None for p in gan.discriminator.parameters())
    for _ in range(40):  # LSGAN: D separates the two -> its loss falls well below the chance level 0.5
        _, d_loss = engine_term(gan, {"fake_image": fake.detach(), "real_image": real}, {})
    assert d_loss < 0.2
    with torch.no_grad():  # evaluation: no discriminator step
        frozen = [p.detach().clone() for p in gan.discriminator.parameters()]
        engine_term(gan, {"fake_image": fake, "real_image": real}, {})
    assert all(torch.equal(a, p) for a, p in zip(frozen, gan.discriminator.parameters()))

"""Shape and position losses: known answers on tiny tensors, frozen autoencoder, self-training discriminator."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from cmrseg.checkpoint import save_checkpoint
from cmrseg.errors import ConfigError
from cmrseg.losses.adversarial import ShapeAdversarial
from cmrseg.losses.registry import create_loss
from cmrseg.losses.shape import ExpLog, SlicePosition, one_hot
from testkit import engine_term
from cmrseg.models.shape_ae import ShapeAE, load_shape_ae
from cmrseg.models.unet import UNet2D

AE_PARAMS = {"features": [4, 4, 8, 8], "code_channels": 4}


pytestmark = pytest.mark.usefixtures("one_thread")


def logits_of(probs: list[list[float]]) -> torch.Tensor:
    """(C, W) class probabilities per pixel -> logits (1, C, 1, W) whose softmax is exactly these."""
    return torch.tensor(probs).log()[None, :, None, :]


def test_exp_log_matches_hand_computation() -> None:
    # 3 pixels, 2 classes: labels 0, 0, 1; p(class 1) = 0.2, 0.4, 0.6
    p1 = [0.2, 0.4, 0.6]
    logits = logits_of([[1 - v for v in p1], p1])
    label = torch.tensor([[[0, 0, 1]]])
    dice0 = 2 * (0.8 + 0.6) / ((0.8 + 0.6 + 0.4) + 2)
    dice1 = 2 * 0.6 / ((0.2 + 0.4 + 0.6) + 1)
    l_dice = ((-math.log(dice0)) ** 0.3 + (-math.log(dice1)) ** 0.3) / 2
    w0, w1 = (3 / 2) ** 0.5, (3 / 1) ** 0.5  # ((sum_k f_k) / f_l) ** 0.5 with f = (2, 1)
    l_ce = (w0 * (-math.log(0.8)) ** 0.3 + w0 * (-math.log(0.6)) ** 0.3 + w1 * (-math.log(0.6)) ** 0.3) / 3
    got = ExpLog(smooth=0.0)({"logits": logits}, {"label": label})
    assert got.item() == pytest.approx(0.8 * l_dice + 0.2 * l_ce, rel=1e-5)
    # foreground-only Dice, gamma 1 (plain -ln Dice and weighted CE), fixed frequencies (1, 3)
    got = ExpLog(gamma_dice=1.0, gamma_ce=1.0, include_background=False, frequencies=[1.0, 3.0], smooth=0.0,
                 w_dice=1.0, w_ce=1.0)({"logits": logits}, {"label": label})
    v0, v1 = (4 / 1) ** 0.5, (4 / 3) ** 0.5
    want = -math.log(dice1) + (v0 * -math.log(0.8) + v0 * -math.log(0.6) + v1 * -math.log(0.6)) / 3
    assert got.item() == pytest.approx(want, rel=1e-5)


def test_exp_log_is_registered_finite_at_perfect_prediction_and_rejects_bad_frequencies() -> None:
    label = torch.randint(0, 4, (2, 8, 8))
    logits = (one_hot(label, 4) * 30.0).requires_grad_()
    loss = create_loss("exp_log", {"gamma_dice": 0.3})({"logits": logits}, {"label": label})
    loss.backward()
    assert loss.item() < 0.05 and torch.isfinite(logits.grad).all()  # x ** 0.3 has an infinite slope at 0
    with pytest.raises(ConfigError, match="positive"):
        ExpLog(frequencies=[1.0, 0.0])


def test_slice_position_is_mse_and_explains_missing_pieces() -> None:
    out = {"position": torch.tensor([0.1, 0.5, 0.9])}
    batch = {"label_position": torch.tensor([0.0, 0.5, 1.0]), "slice_position": torch.tensor([0.1, 0.5, 0.9])}
    assert SlicePosition()(out, batch).item() == pytest.approx((0.01 + 0 + 0.01) / 3)
    assert SlicePosition("slice_position")(out, batch).item() == pytest.approx(0.0)
    with pytest.raises(ConfigError, match="position_head"):
        SlicePosition()({"logits": torch.zeros(3, 4, 2, 2)}, batch)
    with pytest.raises(ConfigError, match="labelled streams"):
        SlicePosition()(out, {"slice_position": batch["slice_position"]})
    with pytest.raises(ConfigError, match="target"):
        SlicePosition("z")


@pytest.fixture()
def ae_checkpoint(tmp_path: Path) -> tuple[Path, ShapeAE]:
    torch.manual_seed(0)
    ae = ShapeAE(**AE_PARAMS)
    path = tmp_path / "ae.pt"
    save_checkpoint(path, ae, {"model": {"name": "shape-ae", "params": AE_PARAMS}})
    return path, ae.eval()


def _maps() -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(1)
    label = torch.randint(0, 4, (2, 32, 32))
    return torch.randn(2, 4, 32, 32, requires_grad=True), label


def test_shape_recon_known_value_zero_at_ground_truth_and_frozen_ae(ae_checkpoint) -> None:
    path, ae = ae_checkpoint
    loss = create_loss("shape_recon", {"autoencoder": str(path)})
    logits, label = _maps()
    value = loss({"logits": logits}, {"label": label})
    with torch.no_grad():
        rec_p = torch.softmax(ae(torch.softmax(logits, 1))["logits"], 1)
        rec_y = torch.softmax(ae(one_hot(label, 4))["logits"], 1)
    assert value.item() == pytest.approx(((rec_p - rec_y) ** 2).sum(1).mean().item(), rel=1e-5)
    assert value.item() > 0
    value.backward()
    assert logits.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in loss.ae.parameters())  # frozen, never updated
    perfect = loss({"logits": one_hot(label, 4) * 50.0}, {"label": label})
    assert perfect.item() < 1e-8


def test_shape_code_and_plausibility_known_values(ae_checkpoint) -> None:
    path, ae = ae_checkpoint
    logits, label = _maps()
    probs = torch.softmax(logits, 1)
    code = create_loss("shape_code", {"autoencoder": str(path)})({"logits": logits}, {"label": label})
    with torch.no_grad():
        want = ((ae.encode(probs) - ae.encode(one_hot(label, 4))) ** 2).mean()
        rec = torch.softmax(ae(probs)["logits"], 1)
    assert code.item() == pytest.approx(want.item(), rel=1e-5)
    plaus = create_loss("shape_plausibility", {"autoencoder": str(path)})
    value = plaus({"logits": logits}, {})  # no label needed: usable on unlabelled streams
    assert value.item() == pytest.approx(((rec - probs) ** 2).sum(1).mean().item(), rel=1e-5)
    value.backward()
    assert logits.grad.abs().sum() > 0


def test_autoencoder_losses_need_a_shape_ae_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="autoencoder"):
        create_loss("shape_recon", {})
    unet = tmp_path / "unet.pt"
    save_checkpoint(unet, UNet2D(features=(4, 8)), {"model": {"name": "unet", "params": {"features": [4, 8]}}})
    with pytest.raises(ConfigError, match="'unet' model"):
        load_shape_ae(unet, "test")


def test_adversarial_loss_trains_its_discriminator_not_through_the_segmenter_backward() -> None:
    state = torch.get_rng_state()
    adv = ShapeAdversarial(lr=1e-2, features=(4, 8), seed=3)
    assert torch.equal(torch.get_rng_state(), state)  # private RNG for the discriminator's init
    same = ShapeAdversarial(features=(4, 8), seed=3)
    for a, b in zip(adv.discriminator.parameters(), same.discriminator.parameters()):
        assert torch.equal(a, b)
    before = [p.detach().clone() for p in adv.discriminator.parameters()]
    logits, label = _maps()
    g, d_loss = engine_term(adv, {"logits": logits}, {"label": label})
    assert math.isfinite(d_loss)
    assert any(not torch.equal(a, p) for a, p in zip(before, adv.discriminator.parameters()))  # D stepped
    g.backward()
    assert logits.grad.abs().sum() > 0
    assert all(p.grad is None for p in adv.discriminator.parameters())  # the model's backward never reaches D
    # the discriminator learns to separate one-hot GT from soft maps: its BCE falls well below chance (2 ln 2)
    for _ in range(30):
        _, d_loss = engine_term(adv, {"logits": logits.detach()}, {"label": label})
    assert d_loss < 0.5
    with torch.no_grad():  # evaluation: no discriminator step
        frozen = [p.detach().clone() for p in adv.discriminator.parameters()]
        engine_term(adv, {"logits": logits}, {"label": label})
    assert all(torch.equal(a, p) for a, p in zip(frozen, adv.discriminator.parameters()))

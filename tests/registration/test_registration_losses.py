"""Registration losses: known answers for the Dice, similarity and smoothness terms."""

from __future__ import annotations

import torch

from cmrseg.losses.registry import available_losses, create_loss


def batch_and_outputs(shift: float, has_label: bool = True):
    lab = torch.zeros(2, 32, 32, dtype=torch.long)
    lab[:, 8:20, 8:20] = 3
    fixed_lab = torch.roll(lab, -4, dims=1)  # fixed = moving moved up by 4 px: warped(p) = moving(p + (4, 0))
    img = lab[:, None].float()
    disp = torch.zeros(2, 2, 32, 32)
    disp[:, 0] = shift
    batch = {"moving": img, "fixed": fixed_lab[:, None].float(), "moving_label": lab, "fixed_label": fixed_lab,
             "has_label": torch.tensor([has_label, False])}
    from cmrseg.models.registration import warp

    return {"disp": disp, "velocity": disp, "warped": warp(img, disp)}, batch


def test_registration_losses_are_registered() -> None:
    assert {"reg_ncc", "reg_mse", "reg_grad", "reg_dice"} <= set(available_losses())


def test_dice_and_similarity_vanish_at_the_true_displacement() -> None:
    for name in ("reg_dice", "reg_mse"):
        loss = create_loss(name)
        right, wrong = loss(*batch_and_outputs(4.0)), loss(*batch_and_outputs(0.0))
        assert float(right) < 1e-3 and float(wrong) > 0.1, name
    # local NCC is 1 only where windows have texture: use a random image
    img = torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    ncc = create_loss("reg_ncc", {"window": 5})
    assert float(ncc({"warped": img}, {"fixed": img})) < 1e-3
    assert float(ncc({"warped": img}, {"fixed": torch.roll(img, 3, dims=2)})) > 0.5


def test_dice_ignores_unlabelled_pairs_and_grad_penalises_roughness() -> None:
    out, batch = batch_and_outputs(0.0, has_label=False)
    assert float(create_loss("reg_dice")(out, batch)) == 0.0
    grad = create_loss("reg_grad")
    assert float(grad(out, batch)) == 0.0  # a constant displacement is perfectly smooth
    out["disp"] = torch.randn(2, 2, 32, 32)
    assert float(grad(out, batch)) > 0.5

"""Registration losses on the output of a registration network (``{"disp", "velocity", "warped"}``) and a
pair batch (``{"moving", "fixed", "moving_label", "fixed_label", "has_label", "valid"}``).

VoxelMorph's (Balakrishnan et al., IEEE TMI 2019) objective: image similarity of the warped moving image to
the fixed one + lambda x smoothness of the displacement, + optionally Dice of the warped moving labels with
the fixed labels where both frames are labelled (their "auxiliary segmentation" variant).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cmrseg.labels import NUM_CLASSES
from cmrseg.losses.registry import register_loss
from cmrseg.models.registration import warp


@register_loss("reg_ncc")
class RegNCC:
    """1 - local (squared) normalised cross-correlation of warped moving vs fixed, in ``window`` px windows.

    MONAI's ``LocalNormalizedCrossCorrelationLoss`` (variances clamped, so flat regions are safe);
    neurite's NCC, which VoxelMorph now points to, asserts on float round-off in flat regions.
    """

    def __init__(self, window: int = 9) -> None:
        from monai.losses import LocalNormalizedCrossCorrelationLoss

        self.loss = LocalNormalizedCrossCorrelationLoss(spatial_dims=2, kernel_size=window, kernel_type="rectangular")

    def __call__(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return 1.0 + self.loss(outputs["warped"], batch["fixed"])


@register_loss("reg_mse")
class RegMSE:
    """Mean squared intensity difference of warped moving vs fixed (neurite's MSE)."""

    def __init__(self) -> None:
        import neurite as ne

        self.loss = ne.nn.modules.MSE()

    def __call__(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.loss(outputs["warped"], batch["fixed"])


@register_loss("reg_grad")
class RegGrad:
    """Smoothness: mean squared (``l2``) or absolute (``l1``) finite differences of a field (neurite).

    Args:
        penalty: ``"l2"`` or ``"l1"``.
        field: ``"disp"`` (the displacement applied) or ``"velocity"`` (before integration).
    """

    def __init__(self, penalty: str = "l2", field: str = "disp") -> None:
        import neurite as ne

        self.loss = ne.nn.modules.SpatialGradient(penalty=penalty)
        self.field = field

    def __call__(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.loss(outputs[self.field])


def one_hot(label: torch.Tensor, num_classes: int = NUM_CLASSES) -> torch.Tensor:
    """``(B, H, W)`` integer codes -> ``(B, C, H, W)`` float one-hot."""
    return F.one_hot(label.long().clamp(0, num_classes - 1), num_classes).permute(0, 3, 1, 2).float()


@register_loss("reg_dice")
class RegDice:
    """Soft Dice (foreground classes, pooled over the batch; MONAI) of the bilinearly warped one-hot moving
    labels vs the fixed labels, on the pairs with ``has_label`` only (0 when the batch has none)."""

    def __init__(self) -> None:
        from monai.losses import DiceLoss

        self.loss = DiceLoss(include_background=False, batch=True)

    def __call__(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        keep = batch["has_label"].bool()
        if not bool(keep.any()):
            return outputs["disp"].sum() * 0.0
        warped = warp(one_hot(batch["moving_label"][keep]), outputs["disp"][keep])
        return self.loss(warped, one_hot(batch["fixed_label"][keep]))

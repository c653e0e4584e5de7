"""Supervised segmentation losses on labelled batches (MONAI's Dice + cross-entropy)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from monai.losses import DiceCELoss

from cmrseg.labels import UNANNOTATED
from cmrseg.losses.registry import register_loss


@register_loss("dice_ce")
class DiceCE:
    """Soft Dice (foreground classes, batch-wise) + cross-entropy, as in nnU-Net; MONAI's implementation.

    Args:
        dice_weight: weight of the Dice part.
        ce_weight: weight of the cross-entropy part.
    """

    def __init__(self, dice_weight: float = 1.0, ce_weight: float = 1.0) -> None:
        self.loss = DiceCELoss(to_onehot_y=True, softmax=True, include_background=False, batch=True,
                               lambda_dice=dice_weight, lambda_ce=ce_weight)

    def __call__(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.loss(outputs["logits"], batch["label"][:, None])


@register_loss("partial_ce")
class PartialCE:
    """Cross-entropy on annotated pixels only (scribbles; code 4 = not annotated is ignored)."""

    def __call__(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return F.cross_entropy(outputs["logits"], batch["label"], ignore_index=UNANNOTATED)

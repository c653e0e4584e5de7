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


@register_loss("masked_dice_ce")
class MaskedDiceCE:
    """Dice + cross-entropy that ignore pixels coded 4 (low-confidence pseudo-labels, unannotated).

    Same definition as ``dice_ce`` (soft Dice over the foreground classes, pooled over the batch, plus mean
    cross-entropy) restricted to annotated pixels; equals ``dice_ce`` when nothing is masked (tested).
    MONAI's DiceCELoss has no ignore mask, hence this small variant.
    """

    def __init__(self, dice_weight: float = 1.0, ce_weight: float = 1.0, smooth: float = 1e-5) -> None:
        self.dice_weight, self.ce_weight, self.smooth = dice_weight, ce_weight, smooth

    def __call__(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        logits, label = outputs["logits"], batch["label"]
        keep = (label != UNANNOTATED).unsqueeze(1).to(logits.dtype)
        target = F.one_hot(label.clamp(max=logits.shape[1] - 1), logits.shape[1]).permute(0, 3, 1, 2).to(logits.dtype)
        probs = torch.softmax(logits, 1)
        p, t = (probs * keep)[:, 1:], (target * keep)[:, 1:]
        dims = (0, 2, 3)
        dice = 1 - (2 * (p * t).sum(dims) + self.smooth) / (p.sum(dims) + t.sum(dims) + self.smooth)
        if not bool((label != UNANNOTATED).any()):
            ce = logits.sum() * 0.0
        else:
            ce = F.cross_entropy(logits, label, ignore_index=UNANNOTATED)
        return self.dice_weight * dice.mean() + self.ce_weight * ce

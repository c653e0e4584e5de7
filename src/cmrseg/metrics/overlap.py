"""Volume overlap: the Dice similarity coefficient, on binary masks and per structure on label maps."""

from __future__ import annotations

import numpy as np

from cmrseg.labels import STRUCTURES


def dice(pred_mask: np.ndarray, gt_mask: np.ndarray) -> float:
    """Dice coefficient ``2|P & G| / (|P| + |G|)`` of two binary masks of the same shape.

    Both masks empty gives ``1.0`` (nothing to find, nothing found); see :mod:`cmrseg.metrics.surface`
    for the full empty-mask policy.

    Example:
        >>> dice(np.array([1, 1, 0], bool), np.array([1, 0, 0], bool))
        0.6666666666666666
    """
    pred = np.asarray(pred_mask, dtype=bool)
    gt = np.asarray(gt_mask, dtype=bool)
    if pred.shape != gt.shape:
        raise ValueError(f"masks must have the same shape (in the axis order given, e.g. (z, y, x)), got {pred.shape} "
                         f"and {gt.shape}")
    total = int(pred.sum()) + int(gt.sum())
    if total == 0:
        return 1.0
    return 2.0 * int(np.logical_and(pred, gt).sum()) / total


def dice_per_structure(pred_label: np.ndarray, gt_label: np.ndarray) -> dict[str, float]:
    """Dice of each cardiac structure (``{"LV": .., "Myo": .., "RV": ..}``) on two label maps (0-3)."""
    return {name: dice(pred_label == code, gt_label == code) for code, name in STRUCTURES.items()}

"""Optional output heads for the U-Net: a multiplicative bias field and the nested (psi) class encoding.

Both come from the Mumford-Shah loss of B. Kim and J. C. Ye, "Mumford-Shah Loss Functional for Image
Segmentation with Deep Learning", IEEE TIP 2020 (bias-field variant), and from the nested multi-class
level-set encoding of cardiac anatomy (LV inside LV+Myo, RV apart).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from cmrseg.labels import BACKGROUND, LV, MYO, NUM_CLASSES, RV

#: Floor added to the nested class maps before the log, so ``logits`` stay finite.
NESTED_LOG_EPS = 1e-6


class BiasHead(nn.Module):
    """Multiplicative bias field ``b(x)`` from the last decoder features: conv3x3 -> LeakyReLU -> conv1x1.

    The output is ``max_value * sigmoid(.)``, in ``(0, max_value)``. With the default ``max_value = 2``,
    ``b = 1`` (no bias) sits mid-range at a zero pre-activation instead of at the sigmoid's asymptote, and
    corrections of up to 2x either way stay representable. The last conv is zero-initialised, so an
    untrained head gives ``b == 1`` everywhere and the bias-field MS loss starts as the plain one.
    (Only the ratio ``b(x) / b(y)`` matters to the loss: its centroids absorb a global scale.)

    With ``grid = g`` the field is low-resolution by construction: the features are average-pooled to a
    ``g`` x ``g`` grid, the head predicts one value per cell, and the field is the bilinear interpolation of
    those values (corners aligned) back to the image size. Such a field cannot follow an object smaller than
    about one cell (``H / g`` px), so it cannot absorb the structures into ``b`` the way a full-resolution
    field can (a TV penalty on ``b`` does not prevent that: TV charges the total variation, not its
    sharpness, so a smooth slice-wide bias costs as much as several sharp small blobs).

    Args:
        in_channels: channels of the decoder features.
        hidden: channels of the hidden layer (default: ``in_channels``).
        max_value: upper end of the output range.
        grid: predict the field on a ``grid`` x ``grid`` grid and upsample it bilinearly (default: full
            resolution). Adds no parameters (the state_dict keys are the same).

    Example:
        >>> head = BiasHead(16)
        >>> head(torch.zeros(2, 16, 8, 8)).shape
        torch.Size([2, 1, 8, 8])
    """

    def __init__(self, in_channels: int, hidden: int | None = None, max_value: float = 2.0,
                 grid: int | None = None) -> None:
        super().__init__()
        hidden = hidden or in_channels
        self.conv = nn.Conv2d(in_channels, hidden, 3, padding=1)
        self.act = nn.LeakyReLU(0.01)
        self.out = nn.Conv2d(hidden, 1, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.max_value = max_value
        if grid is not None and grid < 2:
            raise ValueError(f"BiasHead grid must be >= 2 (or None for full resolution), got {grid}")
        self.grid = grid

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = features if self.grid is None else F.adaptive_avg_pool2d(features, self.grid)
        b = self.max_value * torch.sigmoid(self.out(self.act(self.conv(x))))
        if self.grid is not None:
            b = F.interpolate(b, size=features.shape[-2:], mode="bilinear", align_corners=True)
        return b


def nested_to_classes(psi: torch.Tensor) -> torch.Tensor:
    """Nested sigmoids ``psi`` (N, 3, H, W) -> class maps ``phi`` (N, 4, H, W) in cmrseg order (BG, RV, Myo, LV).

    ``psi1`` = LV, ``psi2`` = LV + Myo, ``psi3`` = RV; ``phi_LV = psi1``, ``phi_Myo = psi2 (1 - psi1)``,
    ``phi_RV = psi3``, ``phi_BG = (1 - psi2)(1 - psi3)``. The maps sum to
    ``1 + psi2 psi3 + psi1 (1 - psi2)`` >= 1: exactly 1 when RV and LV+Myo do not overlap and LV lies
    inside LV+Myo (see :func:`cmrseg.losses.mumford_shah.inclusion_penalty`).
    """
    if psi.ndim != 4 or psi.shape[1] != 3:
        raise ValueError(f"psi must be (N, 3, H, W), got {tuple(psi.shape)}")
    p1, p2, p3 = psi[:, 0], psi[:, 1], psi[:, 2]
    parts = {LV: p1, MYO: p2 * (1 - p1), RV: p3, BACKGROUND: (1 - p2) * (1 - p3)}
    return torch.stack([parts[k] for k in range(NUM_CLASSES)], 1)


def nested_targets(label: torch.Tensor) -> torch.Tensor:
    """(N, H, W) class codes -> (N, 3, H, W) float targets of the nested sigmoids (LV, LV+Myo, RV).

    The inverse of :func:`nested_to_classes` on hard labels; ``level_init`` uses them as per-sigmoid BCE
    targets. Why not cross-entropy on the nested ``logits`` = ``log phi``: its gradient reaches each sigmoid
    through products such as ``phi_Myo = psi2 (1 - psi1)`` and is small wherever another sigmoid is near 0 or
    1; in our synthetic runs the nested model fitted the warm-start targets far worse than a softmax model did
    (training cross-entropy 0.89 vs 0.37 over the warm start). A per-sigmoid BCE has no such coupling.
    """
    return torch.stack([label == LV, (label == LV) | (label == MYO), label == RV], 1).float()


def nested_logits(psi: torch.Tensor, eps: float = NESTED_LOG_EPS) -> torch.Tensor:
    """``log(phi + eps)``: logits whose softmax is the normalised ``phi``, so argmax / Dice-CE work unchanged."""
    return torch.log(nested_to_classes(psi) + eps)


class PositionHead(nn.Module):
    """Slice position in (0, 1) (base -> apex) regressed from the U-Net bottleneck: the spatial constraint
    network (SCN) of Q. Yue et al., "Cardiac Segmentation from LGE MRI Using Deep Neural Network
    Incorporating Shape and Spatial Priors", MICCAI 2019, as a head sharing the encoder (multi-task).

    Global average pool -> Linear -> LeakyReLU -> Linear -> sigmoid.

    Example:
        >>> PositionHead(32)(torch.zeros(2, 32, 8, 8)).shape
        torch.Size([2])
    """

    def __init__(self, in_channels: int, hidden: int = 64) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(in_channels, hidden), nn.LeakyReLU(0.01), nn.Linear(hidden, 1))

    def forward(self, bottleneck: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.mlp(bottleneck.mean(dim=(-2, -1))))[:, 0]

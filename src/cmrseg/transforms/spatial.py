"""Batched 2D spatial augmentation on torch tensors; random transforms call a fixed-parameter twin.

``sample_affine`` draws parameters; ``affine_warp`` applies given parameters. Because the parameters are
explicit, a warp can be inverted exactly (``invert_affine``), which augmentation-invariance losses need.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from pydantic import BaseModel


class SpatialAugConfig(BaseModel):
    p: float = 0.8
    rotate_deg: float = 20.0
    scale: tuple[float, float] = (0.85, 1.2)
    translate: float = 0.08  # fraction of the field of view
    flip: bool = False  # short-axis orientation is usually consistent; flipping swaps RV side


def sample_affine(n: int, cfg: SpatialAugConfig, generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw ``n`` 2x3 affine matrices (normalised coordinates, as ``F.affine_grid`` expects)."""
    u = lambda: torch.rand(n, generator=generator)  # noqa: E731
    angle = (u() * 2 - 1) * math.radians(cfg.rotate_deg)
    scale = cfg.scale[0] + u() * (cfg.scale[1] - cfg.scale[0])
    tx, ty = (u() * 2 - 1) * cfg.translate * 2, (u() * 2 - 1) * cfg.translate * 2
    sx = torch.where(u() < 0.5, -1.0, 1.0) if cfg.flip else torch.ones(n)
    apply = u() < cfg.p
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos * sx, -sin, tx], 1), torch.stack([sin * sx, cos, ty], 1)], 1)
    identity = torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]).expand(n, 2, 3)
    return torch.where(apply[:, None, None], theta, identity)


def affine_warp(x: torch.Tensor, theta: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """Warp ``x`` (N, C, H, W) with matrices ``theta`` (N, 2, 3); zeros outside; ``mode='nearest'`` for labels."""
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode=mode, padding_mode="zeros", align_corners=False)


def invert_affine(theta: torch.Tensor) -> torch.Tensor:
    """The exact inverse of 2x3 affine matrices."""
    full = torch.cat([theta, torch.tensor([0, 0, 1.0]).expand(theta.shape[0], 1, 3)], 1)
    return torch.linalg.inv(full)[:, :2]

"""Batched 2D spatial augmentation on torch tensors; random transforms call a fixed-parameter twin.

``sample_affine`` draws parameters; ``affine_warp`` applies given parameters. Because the parameters are
explicit, a warp can be inverted exactly (``invert_affine``), which augmentation-invariance losses need.

Registration-style augmentation: rigid (rotation + translation), similarity (+ scale), affine (+ ``shear``)
and smooth deformable warps (``sample_elastic``: a random displacement on a coarse control grid, upsampled
with cubic interpolation), composed into one sampling grid so image and label are resampled once. Options
that are off (``shear = 0``, ``elastic_p = 0``, the defaults) draw no random numbers, so runs without them
keep their exact random streams.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field


class SpatialAugConfig(BaseModel):
    """Random geometric changes of the training patches (image and label warped together)."""

    model_config = ConfigDict(extra="forbid")

    p: float = Field(0.8, ge=0, le=1, description="probability that a patch is warped at all")
    rotate_deg: float = Field(20.0, ge=0, description="max absolute in-plane rotation, degrees")
    scale: tuple[float, float] = Field((0.85, 1.2), description="range of the isotropic scale factor")
    translate: float = Field(0.08, ge=0, description="max shift, as a fraction of the field of view")
    flip: bool = Field(False, description="random left-right flips (short-axis orientation is usually consistent; "
                       "a flip moves the RV to the other side)")
    shear: float = Field(0.0, ge=0, description="max |shear factor| (affine beyond similarity); 0 = off")
    elastic_p: float = Field(0.0, ge=0, le=1, description="probability of a smooth random deformation; 0 = off")
    elastic_grid: int = Field(4, ge=2, description="control points per side of the deformation's coarse grid")
    elastic_magnitude: float = Field(0.02, ge=0, description="std of control-point displacements, as a fraction "
                                     "of the patch side")


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
    if cfg.shear > 0:  # theta <- theta @ [[1, s], [0, 1]] (drawn last: the other parameters are unchanged)
        s = (u() * 2 - 1) * cfg.shear
        shear = torch.stack([torch.stack([torch.ones(n), s], 1), torch.stack([torch.zeros(n), torch.ones(n)], 1)], 1)
        theta = torch.cat([theta[:, :, :2] @ shear, theta[:, :, 2:]], 2)
    identity = torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]).expand(n, 2, 3)
    return torch.where(apply[:, None, None], theta, identity)


def sample_elastic(n: int, size: tuple[int, int] | torch.Size, cfg: SpatialAugConfig,
                   generator: torch.Generator | None = None) -> torch.Tensor | None:
    """Smooth random displacement fields ``(n, H, W, 2)`` (normalised grid units, as ``F.grid_sample`` uses).

    Each sample, with probability ``cfg.elastic_p``, gets i.i.d. Gaussian displacements (std
    ``cfg.elastic_magnitude`` x the patch side) on a ``cfg.elastic_grid`` x ``cfg.elastic_grid`` control grid
    spanning the patch, interpolated bicubically (corners aligned) to ``size``: a random smooth deformation
    like a coarse B-spline registration field. The others get zero. ``None`` (no draws) when off.
    """
    if cfg.elastic_p <= 0 or cfg.elastic_magnitude <= 0:
        return None
    if cfg.elastic_grid < 2:
        raise ValueError(f"elastic_grid must be >= 2 control points per side, got {cfg.elastic_grid}")
    g = cfg.elastic_grid
    coarse = torch.randn(n, 2, g, g, generator=generator) * (2.0 * cfg.elastic_magnitude)  # grid spans 2 units
    apply = torch.rand(n, generator=generator) < cfg.elastic_p
    coarse = coarse * apply[:, None, None, None].to(coarse.dtype)
    disp = F.interpolate(coarse, size=tuple(size), mode="bicubic", align_corners=True)
    return disp.permute(0, 2, 3, 1).contiguous()


def affine_warp(x: torch.Tensor, theta: torch.Tensor, mode: str = "bilinear",
                displacement: torch.Tensor | None = None) -> torch.Tensor:
    """Warp ``x`` (N, C, H, W) with matrices ``theta`` (N, 2, 3); zeros outside; ``mode='nearest'`` for labels.

    ``displacement`` (N, H, W, 2) from :func:`sample_elastic` is added to the sampling grid (output pixel
    ``p`` samples the input at ``theta p + displacement(p)``): one resampling for affine + deformable.
    """
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    if displacement is not None:
        grid = grid + displacement.to(x.dtype)
    return F.grid_sample(x, grid, mode=mode, padding_mode="zeros", align_corners=False)


def invert_affine(theta: torch.Tensor) -> torch.Tensor:
    """The exact inverse of 2x3 affine matrices."""
    full = torch.cat([theta, torch.tensor([0, 0, 1.0]).expand(theta.shape[0], 1, 3)], 1)
    return torch.linalg.inv(full)[:, :2]

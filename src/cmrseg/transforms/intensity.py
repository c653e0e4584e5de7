"""Batched intensity augmentation (on normalised images): gamma, contrast/brightness, noise, blur."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field


class IntensityAugConfig(BaseModel):
    """Random intensity changes of the training patches (scanner and protocol contrast varies)."""

    model_config = ConfigDict(extra="forbid")

    p: float = Field(0.8, ge=0, le=1, description="probability that an image is changed at all")
    gamma: tuple[float, float] = Field((0.7, 1.5), description="range of the gamma applied to the unit-range image")
    contrast: tuple[float, float] = Field((0.75, 1.25), description="range of the contrast factor around the mean")
    brightness: float = Field(0.1, ge=0, description="max absolute shift of the (z-scored) intensities")
    noise_std: float = Field(0.05, ge=0, description="max std of added Gaussian noise (z-score units)")
    blur_p: float = Field(0.2, ge=0, le=1, description="probability of a 3x3 binomial blur")


def intensity_augment(x: torch.Tensor, cfg: IntensityAugConfig, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random per-image intensity changes of a batch ``(N, C, H, W)`` of z-scored images."""
    n = x.shape[0]
    u = lambda *s: torch.rand(n, *s, generator=generator).to(x.device)  # noqa: E731
    apply = (u(1, 1, 1) < cfg.p).to(x.dtype)
    lo = x.amin(dim=(1, 2, 3), keepdim=True)
    hi = x.amax(dim=(1, 2, 3), keepdim=True)
    unit = (x - lo) / (hi - lo + 1e-6)
    gamma = cfg.gamma[0] + u(1, 1, 1) * (cfg.gamma[1] - cfg.gamma[0])
    y = unit.clamp_min(0) ** gamma * (hi - lo) + lo
    contrast = cfg.contrast[0] + u(1, 1, 1) * (cfg.contrast[1] - cfg.contrast[0])
    mean = y.mean(dim=(1, 2, 3), keepdim=True)
    y = (y - mean) * contrast + mean + (u(1, 1, 1) * 2 - 1) * cfg.brightness
    y = y + torch.randn(x.shape, generator=generator).to(x.device) * cfg.noise_std * u(1, 1, 1)
    if cfg.blur_p > 0:
        k = torch.tensor([0.25, 0.5, 0.25], dtype=x.dtype, device=x.device)
        kernel = (k[:, None] * k[None, :]).expand(x.shape[1], 1, 3, 3)
        blurred = F.conv2d(F.pad(y, (1, 1, 1, 1), mode="replicate"), kernel, groups=x.shape[1])
        y = torch.where(u(1, 1, 1) < cfg.blur_p, blurred, y)
    return apply * y + (1 - apply) * x

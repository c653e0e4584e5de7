"""Augmentation invariance L_AI: a segmenter's output should follow its input's transform, f(T(I)) = t(f(I)).

``T`` = a random geometric transform ``t`` (multiples of 90 degrees, a flip, a small rotation) followed by an
intensity distortion (gamma / contrast / brightness / noise / blur of :func:`cmrseg.transforms.intensity.
intensity_augment`). The loss compares the softmax maps ``f(I)`` with ``t^{-1}(f(T(I)))``: the intensity part
needs no inverse (the label does not change), the geometric part is inverted exactly (rot90 / flip are
permutations of pixels; a small rotation is undone by resampling with the inverse matrix). Pixels that the
rotation brought in from outside the image (or sent out of it) are masked out. Labels are never used, so the
term fits any unlabelled stream.

How it gets the model: the engine hands losses ``(outputs, batch)``; a loss with ``needs_model = True`` is also
given the model by :meth:`cmrseg.methods.base.Method.training_step` and runs it once more on ``T(I)`` (same
train mode; the gradient flows through both branches unless ``detach_reference``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F

from cmrseg.errors import ConfigError
from cmrseg.losses.registry import register_loss
from cmrseg.transforms.intensity import IntensityAugConfig, intensity_augment
from cmrseg.transforms.spatial import affine_warp, invert_affine

DISTANCES = ("mse", "kl")


@dataclass
class GeometricTransform:
    """Per-sample parameters: ``k`` quarter turns, ``flip`` (left-right), ``theta`` small-rotation matrices."""

    k: torch.Tensor  # (N,) int in 0..3
    flip: torch.Tensor  # (N,) bool
    theta: torch.Tensor | None  # (N, 2, 3) or None (no small rotation)


def sample_geometric(n: int, rot90: bool = True, flip: bool = True, max_degrees: float = 0.0,
                     generator: torch.Generator | None = None) -> GeometricTransform:
    """Draw ``n`` transforms: uniform quarter turns, a fair coin for the flip, angles uniform in +-max_degrees."""
    k = torch.randint(0, 4, (n,), generator=generator) if rot90 else torch.zeros(n, dtype=torch.long)
    f = torch.rand(n, generator=generator) < 0.5 if flip else torch.zeros(n, dtype=torch.bool)
    theta = None
    if max_degrees > 0:
        a = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(max_degrees)
        c, s = torch.cos(a), torch.sin(a)
        z = torch.zeros(n)
        theta = torch.stack([torch.stack([c, -s, z], 1), torch.stack([s, c, z], 1)], 1)
    return GeometricTransform(k, f, theta)


def _per_sample(x: torch.Tensor, fn: Callable[[torch.Tensor, int], torch.Tensor]) -> torch.Tensor:
    return torch.stack([fn(x[i], i) for i in range(x.shape[0])])


def apply_geometric(x: torch.Tensor, t: GeometricTransform, mode: str = "bilinear") -> torch.Tensor:
    """``t(x)`` for ``x`` (N, C, H, W): quarter turns, then the flip, then the small rotation (zeros outside)."""
    if bool((t.k != 0).any()) and x.shape[-1] != x.shape[-2]:
        raise ValueError(f"quarter turns need square images, got {tuple(x.shape[-2:])}")
    y = _per_sample(x, lambda xi, i: torch.rot90(xi, int(t.k[i]), dims=(-2, -1)))
    y = torch.where(t.flip[:, None, None, None].to(y.device), y.flip(-1), y)
    return y if t.theta is None else affine_warp(y, t.theta.to(y), mode)


def invert_geometric(y: torch.Tensor, t: GeometricTransform, mode: str = "bilinear") -> torch.Tensor:
    """``t^{-1}(y)``: the inverse rotation, the flip again, then ``-k`` quarter turns (exact for rot90 / flip)."""
    x = y if t.theta is None else affine_warp(y, invert_affine(t.theta).to(y), mode)
    x = torch.where(t.flip[:, None, None, None].to(x.device), x.flip(-1), x)
    return _per_sample(x, lambda xi, i: torch.rot90(xi, -int(t.k[i]), dims=(-2, -1)))


def valid_region(x: torch.Tensor, t: GeometricTransform, threshold: float = 0.999) -> torch.Tensor:
    """(N, 1, H, W) mask of the pixels whose round trip ``t^{-1}(t(.))`` stays inside the image."""
    ones = torch.ones_like(x[:, :1])
    if t.theta is None:
        return ones
    return (invert_geometric(apply_geometric(ones, t), t) >= threshold).to(x.dtype)


def map_distance(p: torch.Tensor, q: torch.Tensor, distance: str = "mse", eps: float = 1e-6) -> torch.Tensor:
    """Per-pixel distance (N, 1, H, W) of class maps: squared error summed over classes, or symmetric KL
    ``(KL(p||q) + KL(q||p)) / 2``."""
    if distance == "mse":
        return (p - q).square().sum(1, keepdim=True)
    lp, lq = p.clamp_min(eps).log(), q.clamp_min(eps).log()
    return 0.5 * ((p - q) * (lp - lq)).sum(1, keepdim=True)


@register_loss("augmentation_invariance")
class AugmentationInvariance:
    """L_AI: masked mean over pixels of ``distance(f(I), t^{-1}(f(T(I))))`` on softmax maps (see module docstring).

    Args:
        rot90: random quarter turns (exact inverse; needs square patches).
        flip: random left-right flips (exact inverse).
        max_degrees: extra small rotation in +-max_degrees (bilinear; inverse by resampling; 0 = off).
        intensity: fields of :class:`~cmrseg.transforms.intensity.IntensityAugConfig` for the intensity
            distortion (default: always applied, ``p = 1``); ``{"p": 0}`` turns it off.
        distance: ``mse`` (squared error summed over classes) or ``kl`` (symmetric KL).
        detach_reference: treat ``f(I)`` as a fixed target (gradient through the transformed branch only).
    """

    needs_model = True

    def __init__(self, rot90: bool = True, flip: bool = True, max_degrees: float = 15.0,
                 intensity: dict[str, Any] | None = None, distance: str = "mse",
                 detach_reference: bool = False) -> None:
        if distance not in DISTANCES:
            raise ConfigError(f"augmentation_invariance distance must be one of {list(DISTANCES)}, not {distance!r}")
        self.rot90, self.flip, self.max_degrees = rot90, flip, max_degrees
        self.intensity = IntensityAugConfig(**{"p": 1.0, **(intensity or {})})
        self.distance, self.detach_reference = distance, detach_reference

    def transformed(self, image: torch.Tensor) -> tuple[torch.Tensor, GeometricTransform]:
        """``(T(I), t)``: the geometric transform ``t`` of ``T`` (drawn from the global RNG) and the image."""
        t = sample_geometric(image.shape[0], self.rot90, self.flip, self.max_degrees)
        x = apply_geometric(image, t)
        if self.intensity.p > 0:
            x = intensity_augment(x, self.intensity)
        return x, t

    def __call__(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor],
                 model: Callable[[torch.Tensor], dict[str, torch.Tensor]]) -> torch.Tensor:
        image = batch["image"]
        x, t = self.transformed(image)
        q = invert_geometric(torch.softmax(model(x)["logits"].float(), 1), t)
        p = torch.softmax(outputs["logits"].float(), 1)
        if self.detach_reference:
            p = p.detach()
        mask = valid_region(p, t)
        return (map_distance(p, q, self.distance) * mask).sum() / mask.sum().clamp_min(1.0)

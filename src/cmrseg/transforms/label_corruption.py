"""Random corruption of label maps: the inputs of a *denoising* shape autoencoder.

A shape autoencoder trained to reproduce clean label maps reproduces almost any map (ours: 3D reconstruction
Dice 0.96), so ``||AE(p) - p||^2`` barely tells a plausible prediction from an implausible one. Trained to map
*corrupted* maps back to the clean ones, the same network becomes a projection onto plausible hearts: its output
for a prediction with a spurious island, a hole in the myocardium or a shifted border is the repaired map
(the "denoising autoencoder" shape prior of Ravishankar et al., "Learning and Incorporating Shape Models for
Semantic Segmentation", MICCAI 2017, and of Larrazabal et al., "Post-DAE", IEEE TMI 2020).

The corruptions imitate a segmenter's errors, per map and at random:

* **border shifts**: each foreground class is dilated into its neighbours or eroded to background by 1 to
  ``max_shift`` pixels (``shift_p`` per class);
* **blobs**: up to ``max_blobs`` discs of radius ``radius`` pixels set to a random class, half of them centred
  on the heart (holes, bridges, missing pieces), half anywhere (islands);
* **softening**: the one-hot map is blurred (soft borders) and mixed with random class probabilities by a
  factor up to ``soften``, so that the AE also sees maps as soft as a softmax.

Example:
    >>> lab = torch.zeros(2, 32, 32, dtype=torch.long); lab[:, 8:24, 8:24] = 3
    >>> maps = corrupt_label_maps(lab, LabelCorruptionConfig(), 4, torch.Generator().manual_seed(0))
    >>> tuple(maps.shape), bool(torch.allclose(maps.sum(1), torch.ones(2, 32, 32)))
    ((2, 4, 32, 32), True)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field


class LabelCorruptionConfig(BaseModel):
    """Parameters of :func:`corrupt_label_maps` (``method.params.corruption`` of the ``shape-ae`` method)."""

    model_config = ConfigDict(extra="forbid")
    p: float = Field(0.9, ge=0, le=1, description="probability that a map is corrupted at all")
    shift_p: float = Field(0.5, ge=0, le=1, description="per foreground class: probability of a border shift")
    max_shift: int = Field(3, ge=1, description="largest dilation / erosion, pixels")
    max_blobs: int = Field(6, ge=0, description="at most this many random discs per map")
    radius: tuple[int, int] = (2, 12)
    soften: float = Field(0.4, ge=0, le=1, description="largest weight of random class probabilities")


def _rand(generator: torch.Generator | None) -> float:
    return float(torch.rand((), generator=generator))


def _randint(lo: int, hi: int, generator: torch.Generator | None) -> int:
    """Uniform integer in ``[lo, hi]``."""
    return int(torch.randint(lo, hi + 1, (), generator=generator))


def _dilate(mask: torch.Tensor, r: int) -> torch.Tensor:
    """Binary dilation of ``(H, W)`` ``mask`` by a (2r+1)^2 square."""
    return F.max_pool2d(mask[None, None].float(), 2 * r + 1, stride=1, padding=r)[0, 0] > 0


def shift_borders(label: torch.Tensor, shift_p: float, max_shift: int, num_classes: int,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """``(H, W)`` labels with each foreground class dilated (over any class) or eroded (to background) by 1 to
    ``max_shift`` pixels, with probability ``shift_p`` per class."""
    out = label.clone()
    for k in range(1, num_classes):
        if _rand(generator) >= shift_p:
            continue
        r = _randint(1, max_shift, generator)
        mask = out == k
        if _rand(generator) < 0.5:
            out[_dilate(mask, r)] = k
        else:
            out[mask & _dilate(~mask, r)] = 0  # pixels within r of another class: eroded
    return out


def paint_blobs(label: torch.Tensor, n: int, radius: tuple[int, int], num_classes: int,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """``(H, W)`` labels with ``n`` discs set to random classes; odd-numbered ones centred on a foreground pixel
    (when there is one), the others anywhere."""
    out = label.clone()
    h, w = out.shape
    yy, xx = torch.meshgrid(torch.arange(h, device=out.device), torch.arange(w, device=out.device), indexing="ij")
    fg = torch.nonzero(label > 0)
    for i in range(n):
        if i % 2 == 0 and len(fg):
            cy, cx = (int(v) for v in fg[_randint(0, len(fg) - 1, generator)])
        else:
            cy, cx = _randint(0, h - 1, generator), _randint(0, w - 1, generator)
        r = _randint(radius[0], radius[1], generator)
        out[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = _randint(0, num_classes - 1, generator)
    return out


def soften_maps(maps: torch.Tensor, amount: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """``(C, H, W)`` one-hot map blurred by a 3x3 binomial kernel, then mixed with random class probabilities
    (a softmax of Gaussian noise) by ``amount``; the result sums to 1 per pixel."""
    c = maps.shape[0]
    k = torch.tensor([0.25, 0.5, 0.25], dtype=maps.dtype, device=maps.device)
    kernel = (k[:, None] * k[None, :]).expand(c, 1, 3, 3)
    blurred = F.conv2d(F.pad(maps[None], (1, 1, 1, 1), mode="replicate"), kernel, groups=c)[0]
    noise = torch.softmax(2.0 * torch.randn(maps.shape, generator=generator).to(maps), 0)
    return (1 - amount) * blurred + amount * noise


def corrupt_label_maps(label: torch.Tensor, cfg: LabelCorruptionConfig, num_classes: int,
                       generator: torch.Generator | None = None) -> torch.Tensor:
    """Corrupted class-probability maps ``(N, C, H, W)`` of integer label maps ``(N, H, W)``.

    Each map is corrupted with probability ``cfg.p`` (border shifts, then blobs, then softening; see the module
    docstring); the others come back as exact one-hot maps. Labels must lie in ``[0, num_classes)``.
    """
    if label.ndim != 3:
        raise ValueError(f"corrupt_label_maps expects (N, H, W) label maps, got shape {tuple(label.shape)}")
    if bool((label < 0).any()) or bool((label >= num_classes).any()):
        raise ValueError(f"label codes outside 0..{num_classes - 1}: {sorted(set(label.unique().tolist()))}")
    out = F.one_hot(label.long(), num_classes).permute(0, 3, 1, 2).float()
    for i in range(label.shape[0]):
        if _rand(generator) >= cfg.p:
            continue
        lab = shift_borders(label[i].long(), cfg.shift_p, cfg.max_shift, num_classes, generator)
        lab = paint_blobs(lab, _randint(0, cfg.max_blobs, generator), cfg.radius, num_classes, generator)
        onehot = F.one_hot(lab, num_classes).permute(2, 0, 1).float()
        out[i] = soften_maps(onehot, cfg.soften * _rand(generator), generator)
    return out

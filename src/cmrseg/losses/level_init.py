"""Warm start for unsupervised clustering losses (Mumford-Shah): pull the network towards a per-image
multi-Otsu partition of the intensities during the first iterations.

The piecewise-constant MS energy is k-means-like: gradient descent from a random network settles in a local
minimum that merges classes (both plain MS and nested MS* end in ~binary splits on our synthetic shapes,
benchmarks/RESULTS.md, although the true partition has a quarter of the energy). Classical level-set solvers
avoid this by initialising from a hard clustering (our multiphase Chan-Vese comparator starts from multi-Otsu,
as do most multiphase Chan-Vese implementations). ``level_init`` is that initialisation for a network: a
cross-entropy towards the multi-Otsu levels of each image (Otsu 1979; Liao et al. 2001, via scikit-image),
mapped to class codes by ``order`` (darkest level first), switched off with the term's ``stop`` iteration, after
which MS refines the partition on its own. It is an intensity prior: ``order`` says which class is expected
darkest..brightest (e.g. background < myocardium < blood pools for bSSFP), the same kind of knowledge as
the translator's ``intensity_order``.

Noise matters: multi-Otsu is the exact 1D k-means optimum, and on a noisy image where small structures lie
next to a large background, splitting the background's noise can lower the within-class variance more than
separating two small structures does (on synthetic shapes at noise sigma 0.05 the targets agree with the
labels on 42-92 % of the pixels, median 50 %). ``median`` filters the image first (edge-preserving, unlike a
Gaussian, which creates intermediate values along every edge): with a 3 x 3 median the same slices agree on
99.7-99.97 % (``benchmarks/ms_warmstart_diagnostics.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import median_filter
from skimage.filters import threshold_multiotsu

from cmrseg.errors import ConfigError
from cmrseg.losses.registry import register_loss
from cmrseg.models.heads import nested_targets


def multiotsu_levels(image: np.ndarray, levels: int, valid: np.ndarray | None = None,
                     lloyd_steps: int = 20) -> np.ndarray:
    """Level map (same shape, int64 in 0..levels-1, darkest = 0) from multi-Otsu thresholds of ``image``'s
    ``valid`` pixels (all when None), refined by ``lloyd_steps`` 1D k-means steps. A near-constant image (too
    few distinct values) is all level 0.

    Example:
        >>> img = np.repeat(np.array([0.0, 1.0, 2.0, 3.0]), 4).reshape(4, 4)
        >>> multiotsu_levels(img, 4)[:, 0].tolist()
        [0, 1, 2, 3]
    """
    values = image[valid] if valid is not None else image.ravel()
    if values.size == 0 or np.unique(values).size < levels:
        return np.zeros(image.shape, np.int64)
    thresholds = threshold_multiotsu(values, classes=levels)
    # multi-Otsu's histogram puts a threshold at the first bin of a gap (ties), sometimes just inside a class;
    # 1D k-means (Lloyd) steps move each threshold to the midpoint of its neighbouring class means (an empty
    # class keeps the middle of its interval as its mean, so it can fill again)
    edges = np.concatenate([[values.min()], thresholds, [values.max()]])
    for _ in range(lloyd_steps):
        lab = np.digitize(values, thresholds)
        means = np.array([values[lab == k].mean() if (lab == k).any() else (edges[k] + edges[k + 1]) / 2
                          for k in range(levels)])
        new = (means[:-1] + means[1:]) / 2
        if np.allclose(new, thresholds):
            break
        thresholds = new
        edges[1:-1] = thresholds
    return np.digitize(image, thresholds).astype(np.int64)


@register_loss("level_init")
class LevelInit:
    """Cross-entropy of the class maps towards each image's multi-Otsu levels (see module docstring).

    Args:
        order: class code of each level, darkest first (default ``0, 1, ..., K-1``, for a softmax clustering
            whose numbering is arbitrary). For the nested cardiac output on bSSFP-like contrast e.g.
            ``[0, 2, 1, 3]`` (background < myocardium < RV < LV).
        num_classes: K.
        median: side in px of a median filter applied to the image before thresholding (0 or 1 = none; see
            the module docstring for why denoising matters).
    """

    def __init__(self, order: Sequence[int] | None = None, num_classes: int = 4, median: int = 0) -> None:
        self.order = list(range(num_classes)) if order is None else [int(c) for c in order]
        if sorted(self.order) != list(range(num_classes)):
            raise ConfigError(f"level_init.order must list each class code 0..{num_classes - 1} once, "
                              f"got {list(order or [])}")
        if median < 0:
            raise ConfigError(f"level_init.median must be >= 0 (px; 0 = no filter), got {median}")
        self.num_classes, self.median = num_classes, int(median)

    def targets(self, image: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
        """(N, H, W) class codes of the multi-Otsu levels of the first channel of ``image`` (N, C, H, W)."""
        img = image[:, 0].detach().float().cpu().numpy()
        if self.median > 1:
            img = median_filter(img, size=(1, self.median, self.median))  # per slice, in one call
        ok = None if valid is None else valid[:, 0].detach().cpu().numpy() > 0.5
        lut = np.asarray(self.order, np.int64)
        maps = [lut[multiotsu_levels(img[i], self.num_classes, None if ok is None else ok[i])]
                for i in range(img.shape[0])]
        return torch.from_numpy(np.stack(maps)).to(image.device)

    def __call__(self, outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        logits = outputs["logits"].float()
        if logits.shape[1] != self.num_classes:
            raise ConfigError(f"level_init has {self.num_classes} classes, the model outputs {logits.shape[1]}")
        valid = batch.get("valid")
        target = self.targets(batch["image"], valid)
        if "psi" in outputs:  # nested model: binary cross-entropy on each sigmoid (see nested_targets)
            psi = outputs["psi"].float().clamp(1e-6, 1 - 1e-6)
            per_pixel = F.binary_cross_entropy(psi, nested_targets(target), reduction="none").mean(1)
        else:
            per_pixel = F.cross_entropy(logits, target, reduction="none")
        if valid is None:
            return per_pixel.mean()
        w = valid[:, 0].to(per_pixel.dtype)
        return (per_pixel * w).sum() / w.sum().clamp_min(1.0)


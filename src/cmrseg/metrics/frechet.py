"""Frechet distance between real and synthetic images, overall and per slice-position class.

``FD = ||mu_r - mu_s||^2 + Tr(C_r + C_s - 2 (C_r C_s)^{1/2})`` between Gaussians fitted to two feature sets
(Heusel et al., "GANs Trained by a Two Time-Scale Update Rule...", NIPS 2017; the FID without Inception).
Features: :class:`SegmenterFeatures`, the global-average-pooled **bottleneck of a trained segmentation U-Net
checkpoint** (e.g. ``runs/acdc_sup70/checkpoints/best.pt``, 256 values per slice for the default widths) -- a
network trained on cardiac MR that is available offline; Inception features are neither available offline nor
meant for MR. Its input is the preprocessed (z-scored) slice, the translator's output domain.

The estimate is biased upward by few samples (more so in high dimensions): compare FDs only at equal sample
counts and with the same feature network. Per slice-position class (5 classes, base .. apex within the
labelled extent; :func:`cmrseg.losses.translation.position_class`) the counts are smaller still.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from scipy import linalg

from cmrseg.data.streams import label_extent, label_position
from cmrseg.errors import ConfigError

POSITION_NAMES = ("base", "mid-base", "mid", "mid-apex", "apex")


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(D,)`` and covariance ``(D, D)`` (unbiased, ``N - 1``) of ``(N, D)`` features; ``N >= 2``."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"need an (N >= 2, D) feature array, got shape {f.shape}")
    return f.mean(0), np.cov(f, rowvar=False).reshape(f.shape[1], f.shape[1])


def frechet_from_stats(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray,
                       eps: float = 1e-6) -> float:
    """Frechet distance of N(mu1, cov1) and N(mu2, cov2); ``sqrtm`` via scipy, with ``eps I`` added to both
    covariances when their product is singular enough to give a non-finite root (as pytorch-fid does).

    Example:
        >>> round(frechet_from_stats(np.zeros(2), np.eye(2), np.ones(2), 4 * np.eye(2)), 6)  # 2 + 2 (2 - 1)^2
        4.0
    """
    diff = np.asarray(mu1, np.float64) - np.asarray(mu2, np.float64)
    c1, c2 = np.atleast_2d(cov1).astype(np.float64), np.atleast_2d(cov2).astype(np.float64)
    root = linalg.sqrtm(c1 @ c2)
    if not np.isfinite(root).all():
        off = eps * np.eye(c1.shape[0])
        root = linalg.sqrtm((c1 + off) @ (c2 + off))
    root = np.real(root)
    return float(max(0.0, diff @ diff + np.trace(c1) + np.trace(c2) - 2.0 * np.trace(root)))


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two ``(N, D)`` feature sets."""
    return frechet_from_stats(*gaussian_stats(a), *gaussian_stats(b))


def frechet_by_position(real: np.ndarray, real_cls: np.ndarray, fake: np.ndarray, fake_cls: np.ndarray,
                        n_classes: int = 5) -> dict[str, float]:
    """``{"all": FD, "base": FD, ..., "apex": FD}``; a class with fewer than 2 samples on a side gives NaN."""
    out = {"all": frechet_distance(real, fake)}
    names = POSITION_NAMES if n_classes == len(POSITION_NAMES) else tuple(str(c) for c in range(n_classes))
    for c, name in enumerate(names):
        r, f = real[np.asarray(real_cls) == c], fake[np.asarray(fake_cls) == c]
        out[name] = frechet_distance(r, f) if len(r) >= 2 and len(f) >= 2 else float("nan")
    return out


class SegmenterFeatures:
    """Frozen feature extractor: mean over pixels of a segmentation model's ``bottleneck`` output.

    Args:
        checkpoint: a cmrseg checkpoint of a model whose outputs include ``bottleneck`` (the U-Net).
    """

    def __init__(self, checkpoint: str | Path) -> None:
        from cmrseg.models.pretrained import load_pretrained

        self.model = load_pretrained(checkpoint, needed_by="the Frechet feature encoder")
        self.checkpoint = str(checkpoint)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, batch: int = 32) -> np.ndarray:
        """``(N, D)`` float64 features of ``(N, 1, H, W)`` preprocessed images (padded to the net's divisor)."""
        self.model.eval()
        d = getattr(self.model, "divisor", 16)
        h, w = images.shape[-2:]
        x = F.pad(images.float(), (0, (-w) % d, 0, (-h) % d))
        feats = []
        for i in range(0, x.shape[0], batch):
            out = self.model(x[i : i + batch])
            if "bottleneck" not in out:
                raise ConfigError(f"{self.checkpoint}: the feature network must output 'bottleneck' (a U-Net)")
            feats.append(out["bottleneck"].mean(dim=(-2, -1)).double())
        return torch.cat(feats).numpy()


def labelled_slices(volumes: Sequence[Any], n: int | None = None, n_classes: int = 5
                    ) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """``(images (N,1,H,W), labels (N,H,W), position classes (N,))`` of the slices that hold a structure.

    ``volumes``: preprocessed volumes (``.image``, ``.label``). ``n``: keep ``n`` slices evenly spaced over all
    such slices (deterministic), or all of them.
    """
    from cmrseg.losses.translation import position_class

    images, labels, pos = [], [], []
    for vol in volumes:
        extent = label_extent(vol.label)
        for z in range(vol.image.shape[0]):
            if extent is not None and extent[0] <= z <= extent[1] and (vol.label[z] > 0).any():
                images.append(vol.image[z])
                labels.append(vol.label[z])
                pos.append(label_position(z, extent, vol.image.shape[0]))
    if not images:
        raise ValueError("no slice of these volumes holds a labelled structure")
    keep = np.arange(len(images)) if n is None or n >= len(images) else np.linspace(0, len(images) - 1, n).round()
    keep = keep.astype(int)
    img = torch.from_numpy(np.stack([images[i] for i in keep]).astype(np.float32))[:, None]
    lab = torch.from_numpy(np.stack([labels[i] for i in keep]).astype(np.int64))
    cls = position_class(torch.tensor([pos[i] for i in keep]), n_classes).numpy()
    return img, lab, cls


@torch.no_grad()
def translate_slices(translator: Any, labels: torch.Tensor, seed: int = 0, batch: int = 16) -> torch.Tensor:
    """Synthetic images ``(N, 1, H, W)`` (CPU) of label maps ``(N, H, W)``, one random style each (seeded; the
    draws are made on the CPU, so a seed gives the same images on every device)."""
    from cmrseg.device import module_device
    from cmrseg.losses.shape import one_hot

    dev = module_device(translator)
    gen = torch.Generator().manual_seed(seed)
    styles = translator.sample_style(labels.shape[0], gen)
    out = []
    for i in range(0, labels.shape[0], batch):
        maps = one_hot(labels[i : i + batch], translator.num_classes)
        noise = translator.sample_noise(maps, gen) if translator.noise_channels else None
        out.append(translator.translate(maps.to(dev), styles[i : i + batch].to(dev),
                                        None if noise is None else noise.to(dev)).cpu())
    return torch.cat(out)


def translator_frechet(translator: Any, features: SegmenterFeatures, volumes: Sequence[Any],
                       n: int | None = None, seed: int = 0) -> dict[str, float]:
    """FD overall and per position class between the real labelled slices of ``volumes`` and translations of
    their own label maps (same anatomy, random styles): the translator's generator-quality measure."""
    return translator_frechet_draws(translator, features, volumes, n, seeds=(seed,))[0]


def translator_frechet_draws(translator: Any, features: SegmenterFeatures, volumes: Sequence[Any],
                             n: int | None = None, seeds: Sequence[int] = (0,)) -> list[dict[str, float]]:
    """:func:`translator_frechet` for several seeded draws of styles (one dict per seed); the real slices and
    their features are computed once."""
    translator.eval()
    images, labels, cls = labelled_slices(volumes, n)
    real = features(images)
    return [frechet_by_position(real, cls, features(translate_slices(translator, labels, s)), cls) for s in seeds]

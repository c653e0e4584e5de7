"""Domain-randomised images from label maps: a learning-free source of synthetic (image, label) pairs.

After SynthSeg (Billot et al., Medical Image Analysis 86, 2023): every structure of a label map gets a random
mean intensity and texture, the image is blurred, bias-modulated, gamma-distorted and noised with random
strengths, so that a segmenter trained on the pairs cannot rely on any one contrast and must learn shape.
Cardiac label maps hold only the heart (LV, myocardium, RV) on one background class, and a heart on a flat
field teaches a segmenter to call any bright blob "LV" (benchmarks/RESULTS.md, unsupervised segmentation sections). So the background is
split into random smooth regions (argmax of upsampled coarse noise, like the organs of a chest) and random
ellipses ("distractors": vessels, stomach, fat) are painted on it, each with its own random intensity.

One cardiac prior is kept by default (``blood_brighter``): both blood pools are brighter than the myocardium by
at least ``min_contrast`` (of the [0, 1] intensity range before distortion), as in cine bSSFP and in LGE outside
scar. The output is normalised like real preprocessed images (percentile clip, z-score over the valid pixels).

:func:`restyle_images` applies the same randomisation to images that already exist (a translator's): new heart
class means under the same prior, the image's own textures and background kept under random intensity changes,
then the same distortions.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, model_validator

from cmrseg.labels import LV, MYO, RV

Range = tuple[float, float]


def _check_ranges(cfg: BaseModel, names: tuple[str, ...]) -> None:
    for name in names:
        lo, hi = getattr(cfg, name)
        if lo > hi or lo < 0:
            raise ValueError(f"{name} must be (low, high) with 0 <= low <= high, not {(lo, hi)}")


class HeartContrast(BaseModel):
    """How the heart classes are painted: the one cardiac prior on their intensities, and papillary discs."""

    model_config = ConfigDict(extra="forbid")

    blood_brighter: bool = Field(True, description="LV and RV blood brighter than myocardium (else any contrast)")
    min_contrast: float = Field(0.2, ge=0.0, le=0.5, description="blood - myocardium mean, at least (blood_brighter)")
    blood_jitter: float | None = Field(None, ge=0.0, le=1.0, description="RV blood mean = LV blood mean +- this "
                                       "(both are blood); None = drawn independently")
    papillary: int = Field(0, ge=0, description="dark discs (myocardial intensity, 1-3 px) inside the LV cavity, "
                           "each present with p 0.5, labelled LV as in ACDC (papillary muscles and trabeculae)")


class Distortions(BaseModel):
    """Acquisition-like distortions applied after painting (each drawn per image unless noted)."""

    model_config = ConfigDict(extra="forbid")

    downsample: Range = Field((1.0, 2.0), description="resolution loss factor (down, then up again; per batch)")
    blur_sigma_px: Range = Field((0.3, 1.2), description="Gaussian blur (per batch)")
    bias_std: float = Field(0.3, ge=0.0, description="log-std of a smooth multiplicative bias field (4 x 4 grid)")
    gamma_log_std: float = Field(0.25, ge=0.0, description="std of log(gamma) of the gamma distortion")
    noise_std: Range = Field((0.0, 0.05), description="additive Gaussian noise (fraction of the [0, 1] range)")
    clip_percentiles: Range = (0.5, 99.5)

    @model_validator(mode="after")
    def _distortions_ordered(self) -> "Distortions":
        _check_ranges(self, ("downsample", "blur_sigma_px", "noise_std", "clip_percentiles"))
        if self.downsample[0] < 1:
            raise ValueError("downsample >= 1")
        return self


class RandomContrastConfig(HeartContrast, Distortions):
    """Ranges of the random draws (each drawn uniformly from ``(low, high)``, per image unless noted)."""

    background_regions: tuple[int, int] = Field((3, 8), description="smooth background regions (per batch)")
    background_grid: tuple[int, int] = Field((3, 10), description="side of the coarse noise grid (per batch): "
                                             "smaller = larger regions")
    distractors: int = Field(6, ge=0, description="ellipses painted on the background, each present with p 0.5")
    distractor_radius_px: Range = (3.0, 20.0)
    class_std: Range = Field((0.0, 0.08), description="texture: std of each class's intensities")

    @model_validator(mode="after")
    def _ordered(self) -> "RandomContrastConfig":
        _check_ranges(self, ("background_regions", "background_grid", "distractor_radius_px", "class_std"))
        if self.background_regions[0] < 1 or self.background_grid[0] < 2:
            raise ValueError("random_contrast: background_regions >= 1 and background_grid >= 2")
        return self


class RestyleConfig(HeartContrast, Distortions):
    """Contrast randomisation of a translator's images (:func:`restyle_images`): its textures and anatomy are
    kept, the intensities it gave each structure are not."""

    lut_knots: int = Field(6, ge=2, description="knots of the random intensity curve applied to the background")
    texture_scale: Range = Field((0.5, 1.5), description="factor on each heart class's own texture (deviations "
                                 "from its mean in the translator's image)")

    @model_validator(mode="after")
    def _restyle_ordered(self) -> "RestyleConfig":
        _check_ranges(self, ("texture_scale",))
        return self


def _uniform(rng: np.random.Generator, r: Range, size: int | tuple[int, ...] | None = None) -> np.ndarray:
    return rng.uniform(r[0], r[1], size)


def _smooth(coarse: np.ndarray, size: int) -> torch.Tensor:
    return F.interpolate(torch.from_numpy(coarse.astype(np.float32)), size=(size, size), mode="bicubic",
                         align_corners=False)


def _class_map(label: torch.Tensor, rng: np.random.Generator, cfg: RandomContrastConfig) -> tuple[torch.Tensor, int]:
    """Heart classes 1-3 as labelled; background split into smooth regions and ellipses (ids from 4 on);
    papillary discs inside the LV as the last class. Returns the class map and the number of classes."""
    b, p, _ = label.shape
    n_regions = int(rng.integers(cfg.background_regions[0], cfg.background_regions[1] + 1))
    grid = int(rng.integers(cfg.background_grid[0], cfg.background_grid[1] + 1))
    region = _smooth(rng.standard_normal((b, n_regions, grid, grid)), p).argmax(1)  # (B, P, P)
    cls = torch.where(label > 0, label, region + 4)
    if cfg.distractors:
        cls = _paint_ellipses(cls, label, 4 + n_regions, rng, cfg)
    papillary_id = 4 + n_regions + cfg.distractors
    if not cfg.papillary:
        return cls, papillary_id  # no extra class (and no extra draws) without papillary discs
    return _paint_papillary(cls, label, papillary_id, rng, cfg.papillary), papillary_id + 1


def _paint_ellipses(cls: torch.Tensor, label: torch.Tensor, first_id: int, rng: np.random.Generator,
                    cfg: RandomContrastConfig) -> torch.Tensor:
    """``cfg.distractors`` random ellipses (classes ``first_id`` on), each present with p 0.5, on background only."""
    b, p, _ = label.shape
    m = cfg.distractors
    yy, xx = torch.meshgrid(torch.arange(p, dtype=torch.float32), torch.arange(p, dtype=torch.float32), indexing="ij")
    cy, cx = torch.from_numpy(rng.uniform(0, p, (2, b, m, 1, 1)).astype(np.float32))
    ry, rx = torch.from_numpy(_uniform(rng, cfg.distractor_radius_px, (2, b, m, 1, 1)).astype(np.float32))
    theta = torch.from_numpy(rng.uniform(0, math.pi, (b, m, 1, 1)).astype(np.float32))
    on = torch.from_numpy(rng.random((b, m)) < 0.5)
    dy, dx = yy - cy, xx - cx
    u = dy * torch.cos(theta) + dx * torch.sin(theta)
    v = -dy * torch.sin(theta) + dx * torch.cos(theta)
    inside = ((u / ry) ** 2 + (v / rx) ** 2 <= 1.0) & on[..., None, None] & (label == 0)[:, None]
    for k in range(m):  # later ellipses over earlier ones; never over the heart
        cls = torch.where(inside[:, k], torch.full_like(cls, first_id + k), cls)
    return cls


def _paint_papillary(cls: torch.Tensor, label: torch.Tensor, class_id: int, rng: np.random.Generator,
                     n: int) -> torch.Tensor:
    """Up to ``n`` discs (radius 1-3 px, each present with p 0.5) centred on LV pixels, clipped to the LV."""
    p = label.shape[-1]
    yy, xx = torch.meshgrid(torch.arange(p), torch.arange(p), indexing="ij")
    for i in range(label.shape[0]):
        ys, xs = torch.nonzero(label[i] == LV, as_tuple=True)
        picks = rng.integers(0, max(1, len(ys)), n)  # drawn even without an LV: the same draws per image
        radii = rng.uniform(1.0, 3.0, n)
        on = rng.random(n) < 0.5
        if not len(ys):
            continue
        for j in np.flatnonzero(on):
            disc = (yy - ys[picks[j]]) ** 2 + (xx - xs[picks[j]]) ** 2 <= radii[j] ** 2
            cls[i] = torch.where(disc & (label[i] == LV), class_id, cls[i])
    return cls


def _class_means(b: int, n_classes: int, rng: np.random.Generator, cfg: HeartContrast) -> np.ndarray:
    mu = rng.random((b, n_classes))
    if cfg.blood_brighter:
        c = cfg.min_contrast
        myo = rng.uniform(0.0, 1.0 - c, b)
        mu[:, MYO] = myo
        for blood in (LV, RV):
            mu[:, blood] = rng.uniform(myo + c, 1.0)
    if cfg.blood_jitter is not None:
        low = mu[:, MYO] + cfg.min_contrast if cfg.blood_brighter else 0.0
        mu[:, RV] = np.clip(mu[:, LV] + rng.uniform(-cfg.blood_jitter, cfg.blood_jitter, b), low, 1.0)
    if cfg.papillary:
        mu[:, -1] = mu[:, MYO]  # the last class: papillary muscles, as dark as the myocardium
    return mu


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    if sigma <= 0:
        return x
    r = max(1, int(math.ceil(3 * sigma)))
    k = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=x.dtype) / sigma) ** 2)
    k = k / k.sum()
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="reflect"), k.view(1, 1, 1, -1))
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="reflect"), k.view(1, 1, -1, 1))


def _percentiles(v: torch.Tensor, percentiles: Range) -> tuple[torch.Tensor, torch.Tensor]:
    lo, hi = torch.quantile(v, torch.tensor([percentiles[0] / 100, percentiles[1] / 100], dtype=v.dtype))
    return lo, hi


def _normalise(x: torch.Tensor, valid: torch.Tensor, percentiles: Range) -> torch.Tensor:
    """Per image: clip to the percentiles of its valid pixels, z-score over them; padding (valid 0) -> 0, as
    :func:`cmrseg.data.preprocess.normalise_intensity` and the zero canvas of real images."""
    out = torch.zeros_like(x)
    for i in range(x.shape[0]):
        m = valid[i, 0] > 0
        if not m.any():
            continue
        lo, hi = _percentiles(x[i, 0][m], percentiles)
        img = x[i, 0].clamp(lo, hi)
        vals = img[m]
        std = vals.std()
        out[i, 0] = torch.where(m, (img - vals.mean()) / (std if std > 1e-8 else 1.0), 0.0)
    return out


def _distort(x: torch.Tensor, valid: torch.Tensor, rng: np.random.Generator, cfg: Distortions) -> torch.Tensor:
    """Resolution loss, blur, bias field, [0, 1] rescaling, gamma and noise, then :func:`_normalise`."""
    b, _, p, _ = x.shape
    factor = float(_uniform(rng, cfg.downsample))
    if factor > 1.0:
        small = max(2, int(round(p / factor)))
        x = F.interpolate(F.interpolate(x, size=(small, small), mode="bilinear", align_corners=False, antialias=True),
                          size=(p, p), mode="bilinear", align_corners=False)
    x = _blur(x, float(_uniform(rng, cfg.blur_sigma_px)))
    x = x * torch.exp(_smooth(rng.standard_normal((b, 1, 4, 4)) * cfg.bias_std, p))
    lo, hi = x.amin((1, 2, 3), keepdim=True), x.amax((1, 2, 3), keepdim=True)
    x = ((x - lo) / (hi - lo).clamp_min(1e-6)).clamp(0, 1)
    x = x ** torch.from_numpy(np.exp(rng.normal(0.0, cfg.gamma_log_std, (b, 1, 1, 1))).astype(np.float32))
    x = x + torch.from_numpy((_uniform(rng, cfg.noise_std, (b, 1, 1, 1))
                              * rng.standard_normal((b, 1, p, p))).astype(np.float32))
    return _normalise(x, valid, cfg.clip_percentiles)


def random_contrast_images(label: torch.Tensor, valid: torch.Tensor, rng: np.random.Generator,
                           cfg: RandomContrastConfig | None = None) -> torch.Tensor:
    """``(B, 1, P, P)`` random-contrast images of label maps ``(B, P, P)`` (0 BG, 1 RV, 2 Myo, 3 LV).

    Args:
        label: integer label maps; their pixels keep their class (only the background is subdivided).
        valid: ``(B, 1, P, P)`` 1 where the crop holds image data; the rest stays 0 after normalisation.
        rng: every random draw comes from it (a stream's RNG, so resumed training draws the same images).
        cfg: ranges of the draws (defaults: :class:`RandomContrastConfig`).
    """
    cfg = cfg or RandomContrastConfig()
    if label.ndim != 3 or valid.shape != (label.shape[0], 1, *label.shape[1:]):
        raise ValueError(f"random_contrast_images needs labels (B, P, P) and valid (B, 1, P, P), got "
                         f"{tuple(label.shape)} and {tuple(valid.shape)}")
    b, p, _ = label.shape
    cls, n_classes = _class_map(label.long(), rng, cfg)
    mu = torch.from_numpy(_class_means(b, n_classes, rng, cfg).astype(np.float32))
    sd = torch.from_numpy(_uniform(rng, cfg.class_std, (b, n_classes)).astype(np.float32))
    flat = cls.view(b, -1)
    x = (mu.gather(1, flat) + sd.gather(1, flat) * torch.from_numpy(
        rng.standard_normal((b, p * p)).astype(np.float32))).view(b, 1, p, p)
    return _distort(x, valid, rng, cfg)


def _unit_range(image: torch.Tensor, valid: torch.Tensor, percentiles: Range) -> torch.Tensor:
    """Per image: clip to the percentiles of its valid pixels and map them to [0, 1]."""
    out = torch.zeros_like(image)
    for i in range(image.shape[0]):
        m = valid[i, 0] > 0
        lo, hi = _percentiles(image[i, 0][m] if m.any() else image[i, 0].flatten(), percentiles)
        out[i, 0] = ((image[i, 0] - lo) / (hi - lo).clamp_min(1e-6)).clamp(0, 1)
    return out


def _random_curve(x: torch.Tensor, rng: np.random.Generator, knots: int) -> torch.Tensor:
    """Each image's [0, 1] intensities through its own random piecewise-linear curve (any shape: contrasts
    between background tissues are reordered, their edges and textures kept)."""
    b = x.shape[0]
    values = torch.from_numpy(rng.random((b, knots)).astype(np.float32))
    pos = x.reshape(b, -1) * (knots - 1)
    i0 = pos.floor().clamp(0, knots - 2).long()
    w = pos - i0
    return (values.gather(1, i0) * (1 - w) + values.gather(1, i0 + 1) * w).view_as(x)


def restyle_images(image: torch.Tensor, label: torch.Tensor, valid: torch.Tensor, rng: np.random.Generator,
                   cfg: RestyleConfig | None = None) -> torch.Tensor:
    """Randomise the contrast of synthetic images ``(B, 1, P, P)`` of label maps ``(B, P, P)`` (e.g. a
    translator's), keeping their textures and anatomy.

    Each heart class gets a new random mean (:class:`HeartContrast`: blood brighter than myocardium by default)
    plus its own deviations from its mean in ``image``, scaled by a random factor; the background goes through a
    random intensity curve; then the :class:`Distortions`. A translator renders the contrast of the images it
    was trained on, and a segmenter trained on its pairs learns that one contrast (benchmarks/RESULTS.md,
    unsupervised segmentation sections); this keeps what the translator adds over a painter (its textures and backgrounds) and takes
    away that shortcut, as domain randomisation does.
    """
    cfg = cfg or RestyleConfig()
    if label.ndim != 3 or image.shape != valid.shape or image.shape != (label.shape[0], 1, *label.shape[1:]):
        raise ValueError(f"restyle_images needs images and valid (B, 1, P, P) and labels (B, P, P), got "
                         f"{tuple(image.shape)}, {tuple(valid.shape)} and {tuple(label.shape)}")
    b = label.shape[0]
    label = label.long()
    x0 = _unit_range(image.float(), valid, cfg.clip_percentiles)
    cls, n_classes = label, 4
    if cfg.papillary:
        cls, n_classes = _paint_papillary(label.clone(), label, 4, rng, cfg.papillary), 5
    mu = torch.from_numpy(_class_means(b, n_classes, rng, cfg).astype(np.float32))
    scale = torch.from_numpy(_uniform(rng, cfg.texture_scale, (b, n_classes)).astype(np.float32))
    background = _random_curve(x0, rng, cfg.lut_knots)
    flat_label, flat_cls, flat_x = label.view(b, -1), cls.view(b, -1), x0.view(b, -1)
    hot = F.one_hot(flat_label, 4).float()  # each pixel's deviation from the mean of its class in the image
    own_mean = (hot * flat_x[..., None]).sum(1) / hot.sum(1).clamp_min(1.0)
    deviation = flat_x - own_mean.gather(1, flat_label)
    heart = mu.gather(1, flat_cls) + scale.gather(1, flat_cls) * deviation
    x = torch.where(flat_label > 0, heart, background.view(b, -1)).view_as(x0)
    return _distort(x, valid, rng, cfg)

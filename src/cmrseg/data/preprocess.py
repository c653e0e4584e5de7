"""Preprocessing for 2D training and inference on a CPU, with an exact geometric inverse.

Steps (forward): in-plane resampling of every slice to ``target_spacing`` mm -> centre crop/pad to a fixed
``fov_px`` x ``fov_px`` field of view -> robust intensity normalisation (percentile clip, then z-score over
the volume). The slice axis is never resampled (short-axis slices are 5-10 mm apart), so predictions map
slice to slice. The same resampling grid is used backwards, so ``restore`` puts class probabilities back
on the input's own voxel grid before the argmax.

Intensity normalisation works for [0, 1] cine as for raw int16 LGE: clipping to the 0.5/99.5 percentiles
removes the few very bright voxels (fat, scar, artefacts) that would otherwise compress the contrast.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field

from cmrseg.data.case import Case


class PreprocessConfig(BaseModel):
    """Preprocessing parameters; stored in every checkpoint so inference repeats them exactly."""

    model_config = ConfigDict(extra="forbid")

    target_spacing: float = Field(1.5, gt=0, description="in-plane spacing in mm after resampling")
    fov_px: int = Field(224, ge=32, description="in-plane size (px) after centre crop/pad; multiple of 16")
    clip_percentiles: tuple[float, float] = Field((0.5, 99.5), description="intensity percentiles clipped before "
                                                  "z-scoring each volume")


@dataclass(frozen=True)
class Geometry:
    """What ``restore`` needs to undo ``preprocess``: original and resampled sizes and crop/pad offsets."""

    original_yx: tuple[int, int]
    resampled_yx: tuple[int, int]
    offset_yx: tuple[int, int]  # position of the resampled image's origin inside the fov canvas

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Geometry":
        return cls(*(tuple(int(v) for v in d[k]) for k in ("original_yx", "resampled_yx", "offset_yx")))


@dataclass
class Preprocessed:
    """A preprocessed volume: image ``(z, fov, fov)`` float32, label uint8 or None, and its geometry."""

    image: np.ndarray
    label: np.ndarray | None
    geometry: Geometry
    spacing: tuple[float, float, float]


def resampled_size(shape_yx: tuple[int, int], spacing_yx: tuple[float, float], target: float) -> tuple[int, int]:
    return tuple(max(1, int(round(n * s / target))) for n, s in zip(shape_yx, spacing_yx))  # type: ignore[return-value]


def normalise_intensity(image: np.ndarray, percentiles: tuple[float, float] = (0.5, 99.5)) -> np.ndarray:
    """Clip to volume percentiles and z-score; a constant image becomes all zeros (no division by 0)."""
    lo, hi = np.percentile(image, percentiles)
    img = np.clip(image, lo, hi)
    std = float(img.std())
    return ((img - img.mean()) / (std if std > 1e-8 else 1.0)).astype(np.float32)


def _place(src: torch.Tensor, size: int, offset: tuple[int, int]) -> torch.Tensor:
    """Crop/pad ``src`` (..., H, W) onto a zero canvas (..., size, size) at ``offset`` (may be negative)."""
    h, w = src.shape[-2:]
    out = src.new_zeros(*src.shape[:-2], size, size)
    oy, ox = offset
    y0, x0 = max(0, oy), max(0, ox)
    y1, x1 = min(size, oy + h), min(size, ox + w)
    if y1 > y0 and x1 > x0:
        out[..., y0:y1, x0:x1] = src[..., y0 - oy : y1 - oy, x0 - ox : x1 - ox]
    return out


def _unplace(canvas: torch.Tensor, shape_yx: tuple[int, int], offset: tuple[int, int], fill: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`_place`: cut the (H, W) region back out; parts outside the canvas get ``fill``."""
    h, w = shape_yx
    size = canvas.shape[-1]
    out = fill.expand(*canvas.shape[:-2], h, w).clone()
    oy, ox = offset
    y0, x0 = max(0, oy), max(0, ox)
    y1, x1 = min(size, oy + h), min(size, ox + w)
    if y1 > y0 and x1 > x0:
        out[..., y0 - oy : y1 - oy, x0 - ox : x1 - ox] = canvas[..., y0:y1, x0:x1]
    return out


def preprocess(case: Case, cfg: PreprocessConfig) -> Preprocessed:
    """Resample in-plane, centre crop/pad to ``cfg.fov_px`` and normalise; labels use nearest neighbour."""
    z, h, w = case.shape
    new_hw = resampled_size((h, w), case.spacing[1:], cfg.target_spacing)
    img = torch.from_numpy(normalise_intensity(case.image, cfg.clip_percentiles))[:, None]
    img = F.interpolate(img, size=new_hw, mode="bilinear", align_corners=False, antialias=True)[:, 0]
    offset = ((cfg.fov_px - new_hw[0]) // 2, (cfg.fov_px - new_hw[1]) // 2)
    img = _place(img, cfg.fov_px, offset)
    lab = None
    if case.label is not None:
        l = torch.from_numpy(case.label.astype(np.float32))[:, None]
        l = F.interpolate(l, size=new_hw, mode="nearest-exact")[:, 0]
        lab = _place(l, cfg.fov_px, offset).numpy().astype(np.uint8)
    geom = Geometry((h, w), tuple(new_hw), offset)  # type: ignore[arg-type]
    sp = (case.spacing[0], case.spacing[1] * h / new_hw[0], case.spacing[2] * w / new_hw[1])
    return Preprocessed(img.numpy().astype(np.float32), lab, geom, sp)


def restore_map(maps: torch.Tensor, geom: Geometry, fill: torch.Tensor) -> torch.Tensor:
    """Map per-pixel maps ``(z, C, fov, fov)`` back to the original grid ``(z, C, H, W)`` (bilinear).

    Args:
        fill: ``(C, 1, 1)`` values for pixels outside the field of view.
    """
    region = _unplace(maps, geom.resampled_yx, geom.offset_yx, fill.to(maps.dtype))
    return F.interpolate(region, size=geom.original_yx, mode="bilinear", align_corners=False)


def restore_probabilities(probs: torch.Tensor, geom: Geometry) -> torch.Tensor:
    """Class probabilities back on the original grid; outside the field of view background gets 1."""
    fill = torch.zeros(probs.shape[1], 1, 1)
    fill[0] = 1.0
    return restore_map(probs, geom, fill)


def restore_labels(probs: torch.Tensor, geom: Geometry) -> np.ndarray:
    """Argmax of :func:`restore_probabilities`, as a uint8 label map ``(z, H, W)``."""
    return restore_probabilities(probs, geom).argmax(1).numpy().astype(np.uint8)

"""Multi-atlas segmentation: register labelled atlases to a target, propagate labels, fuse by voting.

The classical comparator of network methods in cardiac MR (e.g. W. Bai et al., "A probabilistic patch-based
label fusion model for multi-atlas segmentation with registration refinement: application to cardiac MR
images", IEEE TMI 2013; J. M. P. Artaechevarria et al., "Combination strategies in multi-atlas image
segmentation", IEEE TMI 2009, for locally weighted voting). With SimpleITK, per atlas:

1. both volumes z-scored (:func:`cmrseg.data.preprocess.normalise_intensity`) and resampled in-plane to
   ``work_spacing_mm`` (slices kept: they are 5-10 mm apart); positions are voxel index x spacing, i.e. the
   stacks are assumed to share the short-axis orientation of their voxel axes (true for ACDC); stack
   centres are aligned first;
2. the metric (Mattes mutual information) is restricted to the **atlas heart region**: the atlas labels
   projected over all slices and dilated by ``roi_margin_mm`` (moving-image mask);
3. **exhaustive search** of the pose: jointly every in-plane rotation (``coarse_rotation_deg`` steps within
   +-``max_rotation_deg``, about the atlas heart centre) x every in-plane translation (``search_step_mm``
   grid over +-``search_mm``) on images at ``search_step_mm``; then finer rotations and shifts around the
   best one at ``work_spacing_mm``; then isotropic scales ``1 +- k scale_step`` about the heart centre:
   hearts sit up to 55 mm off the image centre, their long axes point in different directions across
   patients and their sizes differ (DCM vs normal), which local optimisers do not recover. (A translation
   search before the rotation search is not enough: a heart turned by 60 degrees can match the unturned
   atlas best 55 mm away; a full-circle rotation range let unanatomical poses win on ACDC training targets);
4. optionally (``deform``) a 3D cubic B-spline refinement (``bspline_grid_mm`` control points, Mattes MI);
5. the atlas label map resampled onto the target's own grid with SimpleITK's label-linear interpolator
   (each label's indicator interpolated linearly, then the arg-max), the atlas image linearly.

Measured on 2-3 ACDC *training* targets x 7 atlases (not the validation split): local gradient-based
refinement after the search (similarity or affine with Mattes MI, correlation or mean squares, and the
B-spline with MI or neighbourhood correlation) *lowered* the mean single-atlas Dice (LV 0.76-0.78 ->
0.61-0.77): between patients the intensity optimum is not the anatomical one. The same B-spline raised
Dice between the ED and ES frames of one patient. Hence ``deform`` is off by default.

Fusion: **majority vote** (ties to the lower code), and **locally weighted vote**: the vote of atlas ``a``
at voxel ``x`` is weighted by ``exp(ncc_a(x) / temperature)``, ``ncc_a`` = the local normalised
cross-correlation of the warped atlas image with the target in a Gaussian window of ``ncc_sigma_mm``
(in-plane, per slice): atlases that look like the target *there* count more.

Registration runs single-threaded by default (``threads``), as everything on the shared CPU machine should.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk
from pydantic import BaseModel, ConfigDict, Field
from scipy import ndimage

from cmrseg.data.case import Case
from cmrseg.data.preprocess import normalise_intensity
from cmrseg.errors import InputError
from cmrseg.labels import NUM_CLASSES

log = logging.getLogger(__name__)


class MultiAtlasConfig(BaseModel):
    """Registration and fusion parameters (defaults: ~5 s per ACDC atlas on one core of the shared machine)."""

    model_config = ConfigDict(extra="forbid")

    work_spacing_mm: float = Field(3.0, gt=0, description="in-plane spacing the registration runs at")
    roi_margin_mm: float = Field(20.0, ge=0, description="atlas heart region = its labels dilated by this")
    search_mm: float = Field(60.0, ge=0, description="translation search range (+-, in-plane)")
    search_step_mm: float = Field(6.0, gt=0, description="coarse search: translation step = image spacing")
    coarse_rotation_deg: float = Field(30.0, gt=0, le=180, description="coarse search: rotation step")
    max_rotation_deg: float = Field(60.0, ge=0, le=180, description="coarse search: rotations within +-this")
    rotation_step_deg: float = Field(7.5, gt=0, description="fine search: rotation step (within +-coarse/2)")
    rotation_shift_mm: float = Field(6.0, ge=0, description="fine search: translations (+-) with each rotation")
    rotation_shift_step_mm: float = Field(3.0, gt=0)
    scale_step: float = Field(0.08, ge=0, description="in-plane+z isotropic scale search step (0: no scale search)")
    scale_steps: int = Field(3, ge=0, description="scales 1 +- k * scale_step, k <= scale_steps")
    histogram_bins: int = Field(32, ge=8, description="Mattes mutual information bins")
    deform: bool = Field(False, description="B-spline refinement after the rigid search (see module docstring)")
    bspline_grid_mm: float = Field(60.0, gt=0, description="in-plane control-point spacing of the B-spline")
    bspline_iterations: int = Field(10, ge=1)
    ncc_sigma_mm: float = Field(4.0, gt=0, description="Gaussian window of the local NCC (weighted vote)")
    temperature: float = Field(0.1, gt=0, description="weight = exp(local NCC / temperature)")
    threads: int = Field(1, ge=1, description="SimpleITK threads")


@dataclass
class Propagated:
    """One atlas registered to the target: its image and label map on the target's grid."""

    image: np.ndarray  # (z, y, x) float32, z-scored
    label: np.ndarray  # (z, y, x) uint8
    transform: sitk.Transform = field(repr=False)
    seconds: float = 0.0


@dataclass
class MultiAtlasResult:
    majority: np.ndarray  # (z, y, x) uint8
    weighted: np.ndarray  # (z, y, x) uint8
    propagated: list[Propagated] = field(repr=False)
    seconds_registration: float = 0.0
    seconds_fusion: float = 0.0
    failed: list[str] = field(default_factory=list)  # atlases whose registration raised (left out)


def to_sitk(image: np.ndarray, spacing_zyx: Sequence[float]) -> sitk.Image:
    """A ``(z, y, x)`` array as a SimpleITK image with spacing ``(sx, sy, sz)``, origin 0, identity axes."""
    img = sitk.GetImageFromArray(np.ascontiguousarray(image))
    img.SetSpacing([float(s) for s in reversed(tuple(spacing_zyx))])
    return img


def in_plane_resample(img: sitk.Image, spacing_mm: float) -> sitk.Image:
    """Resample in-plane to ``spacing_mm`` (Gaussian anti-aliasing), slices kept, same field of view."""
    sx, sy, sz = img.GetSpacing()
    nx, ny, nz = img.GetSize()
    new_sp = (max(spacing_mm, sx), max(spacing_mm, sy), sz)
    size = [max(1, int(round(nx * sx / new_sp[0]))), max(1, int(round(ny * sy / new_sp[1]))), nz]
    variance = [max(0.0, (new_sp[0] - sx) / 2) ** 2, max(0.0, (new_sp[1] - sy) / 2) ** 2, 0.0]  # mm^2
    smooth = sitk.DiscreteGaussian(img, variance, 32, 0.01, True) if max(variance) > 0 else img
    origin = [o + (ns - s) / 2 for o, s, ns in zip(img.GetOrigin(), (sx, sy, sz), new_sp)]  # edges coincide
    return sitk.Resample(smooth, size, sitk.Transform(), sitk.sitkLinear, origin, new_sp, img.GetDirection(), 0.0,
                         sitk.sitkFloat32)


def heart_region(label: np.ndarray, spacing_zyx: Sequence[float], margin_mm: float) -> np.ndarray:
    """``(z, y, x)`` uint8 mask: the in-plane projection of all labels over the slices, dilated by ``margin_mm``."""
    proj = (label > 0).any(0)
    if not proj.any():
        raise InputError("atlas label map is empty", None, "atlases need labelled structures")
    near = ndimage.distance_transform_edt(~proj, sampling=tuple(spacing_zyx[1:])) <= margin_mm
    return np.repeat(near[None], label.shape[0], 0).astype(np.uint8)


def _mi_method(cfg: MultiAtlasConfig, mask: sitk.Image) -> sitk.ImageRegistrationMethod:
    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsMattesMutualInformation(cfg.histogram_bins)
    reg.SetMetricMovingMask(mask)
    reg.SetInterpolator(sitk.sitkLinear)
    return reg


def _exhaustive(reg: sitk.ImageRegistrationMethod, fixed: sitk.Image, moving: sitk.Image, tx: sitk.Transform,
                steps: list[int], scales: list[float]) -> None:
    """Evaluate the metric on the grid ``params +- steps[i] * scales[i]`` and leave ``tx`` at the best one."""
    reg.SetOptimizerAsExhaustive(steps, stepLength=1.0)
    reg.SetOptimizerScales(scales)
    reg.SetInitialTransform(tx, inPlace=True)
    reg.Execute(fixed, moving)


def _centre(img: sitk.Image) -> tuple[float, ...]:
    return img.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2 for n in img.GetSize()])


def register(fixed: sitk.Image, moving: sitk.Image, moving_mask: sitk.Image, heart_centre: Sequence[float],
             cfg: MultiAtlasConfig) -> sitk.Transform:
    """Transform mapping ``fixed`` points into ``moving`` (SimpleITK convention), see the module docstring.

    Args:
        moving_mask: atlas heart region (uint8) on ``moving``'s grid.
        heart_centre: atlas heart centre ``(x, y, z)`` in ``moving``'s physical space (mm).
    """
    # T(x) = R (x - c) + c + t with c = where the atlas heart lands when the stack centres are aligned
    # (t0 = moving centre - fixed centre): T(c) = c + t for every R, so rotations turn the heart in place and
    # the translation grid is centred on the same target position for every rotation
    t0 = np.asarray(_centre(moving)) - np.asarray(_centre(fixed))
    rigid = sitk.Euler3DTransform()
    rigid.SetCenter(tuple(np.asarray(heart_centre, float) - t0))
    rigid.SetTranslation(tuple(t0))
    # 1. coarse: every rotation x every translation, on images at search_step_mm (a joint search: a heart
    #    turned by 60 degrees may match the unrotated atlas best somewhere else entirely)
    fixed_c = in_plane_resample(fixed, cfg.search_step_mm)
    moving_c = in_plane_resample(moving, cfg.search_step_mm)
    mask_c = sitk.Resample(moving_mask, moving_c, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    n = int(cfg.search_mm // cfg.search_step_mm)
    _exhaustive(_mi_method(cfg, mask_c), fixed_c, moving_c, rigid,
                [0, 0, int(cfg.max_rotation_deg // cfg.coarse_rotation_deg), n, n, 0],
                [1.0, 1.0, math.radians(cfg.coarse_rotation_deg), cfg.search_step_mm, cfg.search_step_mm, 1.0])
    # 2. fine: rotations within half a coarse step, small shifts, at work_spacing_mm
    reg = _mi_method(cfg, moving_mask)
    n_rot = int(cfg.coarse_rotation_deg / 2 // cfg.rotation_step_deg)
    n_sh = int(cfg.rotation_shift_mm // cfg.rotation_shift_step_mm)
    _exhaustive(reg, fixed, moving, rigid, [0, 0, n_rot, n_sh, n_sh, 0],
                [1.0, 1.0, math.radians(cfg.rotation_step_deg), cfg.rotation_shift_step_mm,
                 cfg.rotation_shift_step_mm, 1.0])
    if cfg.scale_step > 0 and cfg.scale_steps > 0:  # heart size: similarity about the heart centre
        sim = sitk.Similarity3DTransform()
        sim.SetCenter(rigid.GetCenter())
        sim.SetMatrix(rigid.GetMatrix())
        sim.SetTranslation(rigid.GetTranslation())
        _exhaustive(reg, fixed, moving, sim, [0, 0, 0, 1, 1, 0, cfg.scale_steps],  # +- one shift step
                    [1.0, 1.0, 1.0, cfg.rotation_shift_step_mm, cfg.rotation_shift_step_mm, 1.0, cfg.scale_step])
        rigid = sim
    if not cfg.deform:
        return rigid
    sx, sy, _ = fixed.GetSpacing()
    nx, ny, _ = fixed.GetSize()
    bspline = sitk.BSplineTransformInitializer(
        fixed, [max(1, round(nx * sx / cfg.bspline_grid_mm)), max(1, round(ny * sy / cfg.bspline_grid_mm)), 1], order=3)
    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsMattesMutualInformation(cfg.histogram_bins)
    reg.SetMetricFixedMask(sitk.Resample(moving_mask, fixed, rigid, sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8))
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetOptimizerAsGradientDescentLineSearch(learningRate=1.0, numberOfIterations=cfg.bspline_iterations,
                                                convergenceMinimumValue=1e-5, convergenceWindowSize=5)
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetMovingInitialTransform(rigid)
    reg.SetInitialTransform(bspline, inPlace=True)
    reg.Execute(fixed, moving)
    return sitk.CompositeTransform([rigid, bspline])


def propagate(atlas: Case, target: Case, cfg: MultiAtlasConfig | None = None) -> Propagated:
    """Register ``atlas`` (with label) to ``target`` and resample its image and labels onto the target grid."""
    cfg = cfg or MultiAtlasConfig()
    if atlas.label is None or not atlas.label.any():
        raise InputError(f"atlas {atlas.case_id!r} has no (or an empty) label map", atlas.source,
                         "atlases must be labelled volumes (image + _gt)")
    t0 = time.perf_counter()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(cfg.threads)
    fixed_full = to_sitk(normalise_intensity(target.image), target.spacing)
    moving_full = to_sitk(normalise_intensity(atlas.image), atlas.spacing)
    moving = in_plane_resample(moving_full, cfg.work_spacing_mm)
    mask = sitk.Resample(to_sitk(heart_region(atlas.label, atlas.spacing, cfg.roi_margin_mm), atlas.spacing),
                         moving, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    zyx = np.nonzero(atlas.label)
    centre = tuple(float(zyx[i].mean()) * atlas.spacing[i] for i in (2, 1, 0))  # (x, y, z) mm, origin 0
    transform = register(in_plane_resample(fixed_full, cfg.work_spacing_mm), moving, mask, centre, cfg)
    outside = float(sitk.GetArrayViewFromImage(moving_full).min())  # background-like, not the mean
    image = sitk.Resample(moving_full, fixed_full, transform, sitk.sitkLinear, outside, sitk.sitkFloat32)
    label = sitk.Resample(to_sitk(atlas.label, atlas.spacing), fixed_full, transform, sitk.sitkLabelLinear, 0,
                          sitk.sitkUInt8)
    return Propagated(sitk.GetArrayFromImage(image).astype(np.float32), sitk.GetArrayFromImage(label), transform,
                      time.perf_counter() - t0)


def majority_vote(labels: Sequence[np.ndarray], n_classes: int = NUM_CLASSES) -> np.ndarray:
    """Per-voxel most frequent label (ties go to the lower code)."""
    stack = np.stack(labels)
    return np.stack([(stack == c).sum(0) for c in range(n_classes)]).argmax(0).astype(np.uint8)


def local_ncc(a: np.ndarray, b: np.ndarray, sigma_px: tuple[float, float]) -> np.ndarray:
    """Gaussian-windowed normalised cross-correlation of two ``(z, y, x)`` volumes, in-plane, in [-1, 1]."""
    s = (0.0, *sigma_px)
    a, b = a.astype(np.float64), b.astype(np.float64)
    ma, mb = ndimage.gaussian_filter(a, s), ndimage.gaussian_filter(b, s)
    va = ndimage.gaussian_filter(a * a, s) - ma * ma
    vb = ndimage.gaussian_filter(b * b, s) - mb * mb
    cov = ndimage.gaussian_filter(a * b, s) - ma * mb
    return np.clip(cov / np.sqrt(np.maximum(va, 1e-6) * np.maximum(vb, 1e-6)), -1.0, 1.0).astype(np.float32)


def weighted_vote(target_image: np.ndarray, spacing_zyx: Sequence[float], propagated: Sequence[Propagated],
                  cfg: MultiAtlasConfig | None = None, n_classes: int = NUM_CLASSES) -> np.ndarray:
    """Locally weighted vote: atlas weights ``exp(local NCC / temperature)`` (see module docstring)."""
    cfg = cfg or MultiAtlasConfig()
    target = normalise_intensity(target_image)
    sigma_px = (cfg.ncc_sigma_mm / spacing_zyx[1], cfg.ncc_sigma_mm / spacing_zyx[2])
    ncc = np.stack([local_ncc(target, p.image, sigma_px) for p in propagated])
    w = np.exp((ncc - ncc.max(0, keepdims=True)) / cfg.temperature)  # softmax numerator, overflow-safe
    labels = np.stack([p.label for p in propagated])
    return np.stack([(w * (labels == c)).sum(0) for c in range(n_classes)]).argmax(0).astype(np.uint8)


def segment_multi_atlas(target: Case, atlases: Sequence[Case], cfg: MultiAtlasConfig | None = None) -> MultiAtlasResult:
    """Segment ``target`` with labelled ``atlases``: majority-vote and locally-weighted-vote label maps.

    Example:
        >>> res = segment_multi_atlas(target_case, [atlas1, atlas2, atlas3])  # doctest: +SKIP
        >>> res.weighted.shape == target_case.shape  # doctest: +SKIP
        True
    """
    cfg = cfg or MultiAtlasConfig()
    if not atlases:
        raise InputError("no atlases given", target.source, "pass at least one labelled atlas volume")
    propagated, failed = [], []
    for a in atlases:
        try:
            propagated.append(propagate(a, target, cfg))
        except RuntimeError as exc:  # ITK: a searched pose left no sample inside the images
            log.warning("atlas %s not registered to %s, left out: %s", a.case_id, target.case_id,
                        str(exc).strip().splitlines()[-1])
            failed.append(a.case_id)
    if not propagated:
        raise RuntimeError(f"no atlas could be registered to {target.case_id}: {failed}")
    t0 = time.perf_counter()
    majority = majority_vote([p.label for p in propagated])
    weighted = weighted_vote(target.image, target.spacing, propagated, cfg)
    return MultiAtlasResult(majority, weighted, propagated, sum(p.seconds for p in propagated),
                            time.perf_counter() - t0, failed)

"""Synthetic piecewise-constant "shapes" images for the Mumford-Shah evidence on shapes with known
piecewise-constant answers.

Why: the Mumford-Shah losses model an image as a few constant regions (optionally times a smooth bias field).
These images are exactly that, with a known answer, so unsupervised clusterings can be scored: does a loss
find all four regions, and does it keep finding them under a multiplicative bias field?

Model of one 2D slice (``size`` x ``size`` px), in the cmrseg label convention:

* nested (default): label 3 (``LV`` code) = an inner disc, label 2 (``Myo``) = a disc or square around it,
  so every label-3 pixel lies inside the label-2 shape and is surrounded by label 2; label 1 (``RV``) = a
  separate disc or square beside them (never touching); 0 = background. Sizes and positions are random.
* ``nested=False``: the three labels are three separate, non-touching discs/squares.
* Intensity: one constant level per structure, drawn per slice from disjoint ranges (background darkest,
  then label 2, label 1, label 3 brightest; with ``random_levels`` the ranges are permuted per slice), plus
  Gaussian noise. Levels differ by >= 0.1 (noise sigma <= 0.05).
* ``bias=True``: multiplied by a smooth field ``exp(quadratic in x, y)`` of random direction, spanning
  about ``exp(+-bias_strength)`` over the slice (0.6x to 1.65x at the default 0.5), so one structure's level
  at one end of the slice can exceed another's at the other end: thresholds alone then fail.

The files use the ACDC-copy layout (``patients.csv`` + ``patientXXX/patientXXX_frameYY{,_gt}.nii.gz``), so
``cmrseg.io.load_dataset`` and the training engine read them unchanged. That layout needs an ED and an ES
frame per patient; here they are two *independent* random volumes (frames 01 and 02), not a cardiac cycle.

Example:
    >>> image, label, field = make_shapes_slice(np.random.default_rng(0), bias=True)
    >>> image.shape, sorted(np.unique(label).tolist())
    ((96, 96), [0, 1, 2, 3])
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from cmrseg.io.nifti import write_nifti
from cmrseg.labels import BACKGROUND, LV, MYO, RV

__all__ = ["LEVEL_RANGES", "make_shapes_slice", "make_shapes_volume", "write_shapes_dataset"]

GROUP = "SHAPES"
SQRT2 = float(np.sqrt(2.0))  # a square of half-side r fits in a disc of radius r sqrt(2)
CSV_COLUMNS = ("patient", "split", "group", "ed_frame", "es_frame", "spacing_x_mm", "spacing_y_mm", "spacing_z_mm")
#: Intensity range per structure (before bias and noise); disjoint, >= 0.1 apart.
LEVEL_RANGES: dict[int, tuple[float, float]] = {BACKGROUND: (0.05, 0.2), MYO: (0.3, 0.45), RV: (0.55, 0.7),
                                                LV: (0.8, 1.0)}


def _shape_mask(yy: np.ndarray, xx: np.ndarray, cy: float, cx: float, r: float, square: bool) -> np.ndarray:
    """Disc of radius ``r`` or axis-aligned square of half-side ``r`` centred at ``(cy, cx)``."""
    if square:
        return (np.abs(yy - cy) <= r) & (np.abs(xx - cx) <= r)
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r ** 2


def _place(rng: np.random.Generator, size: int, radii: list[float], gap: float) -> list[tuple[float, float]]:
    """Centres for shapes of bounding radii ``radii`` inside the slice, pairwise ``gap`` px apart (rejection)."""
    for _ in range(1000):
        centres = [(rng.uniform(r + 2, size - r - 2), rng.uniform(r + 2, size - r - 2)) for r in radii]
        ok = all(np.hypot(a[0] - b[0], a[1] - b[1]) > ra + rb + gap
                 for i, (a, ra) in enumerate(zip(centres, radii)) for b, rb in zip(centres[i + 1:], radii[i + 1:]))
        if ok:
            return centres
    raise RuntimeError(f"could not place shapes of radii {radii} in a {size} px slice")


def bias_field(rng: np.random.Generator, size: int, strength: float = 0.5) -> np.ndarray:
    """Smooth multiplicative field ``exp(g)``: ``g`` a linear ramp of random direction plus a mild random
    quadratic, scaled so that ``max |g| = strength``."""
    t = np.linspace(-1.0, 1.0, size)
    yy, xx = np.meshgrid(t, t, indexing="ij")
    angle = rng.uniform(0, 2 * np.pi)
    g = np.cos(angle) * xx + np.sin(angle) * yy
    g = g + rng.uniform(-0.4, 0.4) * xx * yy + rng.uniform(-0.4, 0.4) * (xx ** 2 - yy ** 2)
    return np.exp(strength * g / np.abs(g).max()).astype(np.float32)


def make_shapes_slice(rng: np.random.Generator, size: int = 96, bias: bool = False, nested: bool = True,
                      random_levels: bool = False, bias_strength: float = 0.5,
                      noise: tuple[float, float] = (0.02, 0.05)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One random slice: ``(image float32, label uint8, bias field float32)``, all ``(size, size)``.

    Args:
        rng: random generator (consumed).
        size: slice side in px (>= 64 for the default shape sizes).
        bias: multiply by a smooth bias field (else the returned field is all ones).
        nested: label 3 inside label 2 (else three separate shapes).
        random_levels: permute the intensity ranges of :data:`LEVEL_RANGES` between structures per slice.
        bias_strength: half-range of the log bias field.
        noise: range of the Gaussian noise sigma.
    """
    if size < 64:
        raise ValueError(f"size must be >= 64 px, got {size}")
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    s = size / 96.0
    label = np.zeros((size, size), np.uint8)
    r_out, r_rv = rng.uniform(11, 20) * s, rng.uniform(7, 13) * s
    square_out, square_rv = rng.random() < 0.5, rng.random() < 0.5
    reach = lambda r, sq: r * SQRT2 if sq else r  # noqa: E731  (bounding radius for placement)
    if nested:
        (cy, cx), (ry, rx) = _place(rng, size, [reach(r_out, square_out), reach(r_rv, square_rv)], gap=4 * s)
        label[_shape_mask(yy, xx, cy, cx, r_out, square_out)] = MYO
        r_in = r_out * rng.uniform(0.4, 0.65)
        slack = r_out - r_in - 3 * s  # at least ~3 px of label 2 all round the disc
        a = rng.uniform(0, 2 * np.pi)
        off = rng.uniform(0, max(slack, 0.0)) * np.array([np.cos(a), np.sin(a)])
        label[_shape_mask(yy, xx, cy + off[0], cx + off[1], r_in, False)] = LV
        label[_shape_mask(yy, xx, ry, rx, r_rv, square_rv)] = RV
    else:
        r_lv = rng.uniform(7, 12) * s
        shapes = [(MYO, r_out * 0.8, square_out), (RV, r_rv, square_rv), (LV, r_lv, False)]
        centres = _place(rng, size, [reach(r, sq) for _, r, sq in shapes], gap=4 * s)
        for (code, r, sq), (cy, cx) in zip(shapes, centres):
            label[_shape_mask(yy, xx, cy, cx, r, sq)] = code
    codes = [BACKGROUND, RV, MYO, LV]
    ranges = [LEVEL_RANGES[c] for c in codes]
    if random_levels:
        ranges = [ranges[i] for i in rng.permutation(4)]
    levels = np.array([rng.uniform(*r) for r in ranges], np.float32)
    image = levels[label]
    field = bias_field(rng, size, bias_strength) if bias else np.ones((size, size), np.float32)
    image = image * field + rng.normal(0, rng.uniform(*noise), (size, size))
    return image.astype(np.float32), label, field


def make_shapes_volume(rng: np.random.Generator, n_slices: int = 4, size: int = 96, **kw: object
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n_slices`` independent slices of :func:`make_shapes_slice` stacked to ``(z, y, x)`` arrays."""
    parts = [make_shapes_slice(rng, size, **kw) for _ in range(n_slices)]  # type: ignore[arg-type]
    return tuple(np.stack(p) for p in zip(*parts))  # type: ignore[return-value]


def write_shapes_dataset(root: str | Path, n_patients: int = 16, n_val: int = 4, seed: int = 0, bias: bool = False,
                         nested: bool = True, n_slices: int = 4, size: int = 96,
                         spacing: tuple[float, float, float] = (8.0, 1.5, 1.5), random_levels: bool = False,
                         bias_strength: float = 0.5) -> Path:
    """Write a shapes dataset in the ACDC-copy layout that ``cmrseg.io.load_dataset`` reads unchanged.

    Layout: ``root/patients.csv`` (the last ``n_val`` patients are ``val``, group ``SHAPES``) and
    ``root/patientXXX/patientXXX_frame0{1,2}{,_gt}.nii.gz`` from ``patient001`` on: two independent random
    volumes per patient (the ACDC layout needs an ED and an ES frame), ``n_slices`` slices of
    ``size`` x ``size`` px at ``spacing`` = ``(sz, sy, sx)`` mm. ``_bias`` files hold the true bias fields.
    Labels are ground truth for evaluation; unsupervised methods never read them. Returns ``root``.

    Args:
        root: output folder (created).
        n_patients, n_val: patients in all / in the val split.
        seed: the dataset is a deterministic function of ``seed`` and the arguments.
        bias, nested, random_levels, bias_strength: see :func:`make_shapes_slice`.
    """
    if n_patients < 1 or not 0 <= n_val <= n_patients:
        raise ValueError(f"need n_patients >= 1 and 0 <= n_val <= n_patients, got {n_patients}, {n_val}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    sz, sy, sx = (float(v) for v in spacing)
    affine = np.diag([sx, sy, sz, 1.0])
    rows = []
    for i in range(n_patients):
        patient = f"patient{i + 1:03d}"
        rng = np.random.default_rng(np.random.SeedSequence([seed, i]))
        for frame in (1, 2):
            image, label, field = make_shapes_volume(rng, n_slices, size, bias=bias, nested=nested,
                                                     random_levels=random_levels, bias_strength=bias_strength)
            stem = root / patient / f"{patient}_frame{frame:02d}"
            write_nifti(image, affine, f"{stem}.nii.gz")
            write_nifti(label, affine, f"{stem}_gt.nii.gz")
            write_nifti(field, affine, f"{stem}_bias.nii.gz")
        split = "val" if i >= n_patients - n_val else "train"
        rows.append([patient, split, GROUP, 1, 2, f"{sx:.4f}", f"{sy:.4f}", f"{sz:.4f}"])
    with open(root / "patients.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        writer.writerows(rows)
    return root

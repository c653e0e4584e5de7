"""Label overlays on short-axis slices: RV blue, Myo green, LV red, semi-transparent fill plus contours.

:func:`save_overlay` writes one PNG per volume (basal, mid and apical slices; prediction row, optional ground-truth
row), cropped around the heart and drawn with the true in-plane pixel aspect. :func:`overlay_rgb` colours one
slice as an RGB array (the HTML report's slice slider uses it for its frames).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cmrseg.axes import shape_text
from cmrseg.errors import InputError
from cmrseg.labels import LV, MYO, RV, STRUCTURES

#: RGB colour in [0, 1] of each structure code; shared by the curves and the HTML report.
COLOURS: dict[int, tuple[float, float, float]] = {RV: (0.12, 0.42, 1.0), MYO: (0.1, 0.8, 0.2), LV: (0.95, 0.12, 0.1)}


def window(image: np.ndarray, low: float = 1.0, high: float = 99.0) -> tuple[float, float]:
    """Display window ``(vmin, vmax)``: the ``low``/``high`` percentiles of the finite intensities."""
    v = np.asarray(image, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return 0.0, 1.0
    lo, hi = (float(x) for x in np.percentile(v, [low, high]))
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def _boundary(mask: np.ndarray) -> np.ndarray:
    """Pixels of ``mask`` with a 4-neighbour outside it (image border counts as outside)."""
    p = np.pad(mask, 1)
    inner = p[1:-1, 1:-1] & p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
    return mask & ~inner


def overlay_rgb(image: np.ndarray, label: np.ndarray | None, alpha: float = 0.4, contour: bool = True,
                vmin: float | None = None, vmax: float | None = None) -> np.ndarray:
    """One slice as uint8 RGB ``(y, x, 3)``: grey image, structures filled with ``alpha`` and outlined.

    Args:
        image: 2D slice ``(y, x)``.
        label: 2D label map of the same shape (0 BG, 1 RV, 2 Myo, 3 LV) or ``None`` for the bare image.
        alpha: opacity of the colour fill (0 = contours only).
        contour: draw each structure's 1-pixel boundary in full colour.
        vmin, vmax: grey window; default the 1st/99th percentiles of this slice (pass the volume's for a stack).
    """
    image = np.asarray(image, dtype=float)
    if image.ndim != 2 or (label is not None and np.shape(label) != image.shape):
        raise InputError(f"overlay_rgb needs a 2D slice (y, x) and a label of the same shape, got image "
                         f"{shape_text(image.shape, 'yx')}, label "
                         f"{None if label is None else shape_text(np.shape(label), 'yx')}",
                         hint="pass image[z] and label[z]")
    if vmin is None or vmax is None:
        lo, hi = window(image)
        vmin, vmax = (lo if vmin is None else vmin), (hi if vmax is None else vmax)
    grey = np.clip((np.nan_to_num(image) - vmin) / max(vmax - vmin, 1e-12), 0.0, 1.0)
    rgb = np.repeat(grey[..., None], 3, axis=2)
    if label is not None:
        label = np.asarray(label)
        for code, colour in COLOURS.items():
            mask = label == code
            if not mask.any():
                continue
            rgb[mask] = (1.0 - alpha) * rgb[mask] + alpha * np.asarray(colour)
            if contour:
                rgb[_boundary(mask)] = colour
    return np.round(rgb * 255.0).astype(np.uint8)


def heart_box(*labels: np.ndarray | None, margin: float = 0.3, min_margin: int = 8) -> tuple[slice, slice]:
    """In-plane crop ``(ys, xs)`` around the union of the non-zero voxels of ``labels`` (``(z, y, x)``), widened
    by ``margin`` x the box size (at least ``min_margin`` pixels) on each side; the whole plane if all empty."""
    masks = [np.asarray(lab) > 0 for lab in labels if lab is not None]
    shape = masks[0].shape[1:]
    union = np.logical_or.reduce(masks).any(axis=0)
    if not union.any():
        return slice(0, shape[0]), slice(0, shape[1])
    box = []
    for axis, n in enumerate(shape):
        idx = np.flatnonzero(union.any(axis=1 - axis))
        lo, hi = int(idx[0]), int(idx[-1]) + 1
        pad = max(min_margin, int(round(margin * (hi - lo))))
        box.append(slice(max(0, lo - pad), min(n, hi + pad)))
    return box[0], box[1]


def heart_slices(*labels: np.ndarray | None, n_slices: int = 3,
                 reference: np.ndarray | None = None) -> list[tuple[int, str]]:
    """Up to ``n_slices`` evenly spaced slice indices through the labelled heart, ordered base to apex, with a
    name (``basal``/``mid``/``apical`` for 3). The slices span every given label map (and ``reference``); the base
    is the end with the larger labelled area (the apex tapers), measured on ``reference`` (the ground truth) when it
    has labels, so that a prediction's false positives at the apex cannot flip the names, and on all labels
    otherwise. A stack without labels gives evenly spaced slices over the whole stack, named ``z=k``."""
    masks = [np.asarray(lab) > 0 for lab in (*labels, reference) if lab is not None]
    area = np.logical_or.reduce(masks).sum(axis=(1, 2))
    ref_area = None if reference is None else (np.asarray(reference) > 0).sum(axis=(1, 2))
    orient = ref_area if ref_area is not None and ref_area.any() else area
    z = np.flatnonzero(area) if area.any() else np.arange(area.size)
    if area.any():
        zo = np.flatnonzero(orient)
        third = max(1, zo.size // 3)  # mean area of the first vs last third: one odd end slice does not decide
        if orient[zo[-third:]].mean() > orient[zo[:third]].mean():
            z = z[::-1]
    picks = list(dict.fromkeys(int(z[int(round(i))]) for i in np.linspace(0, z.size - 1, max(1, n_slices))))
    names = ("basal", "mid", "apical") if len(picks) == 3 and area.any() else ("",) * len(picks)
    return [(k, f"{name} (z={k})" if name else f"z={k}") for k, name in zip(picks, names)]


def check_volumes(image: np.ndarray, pred: np.ndarray, gt: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """``(image, pred, gt)`` as ``(z, y, x)`` arrays of one shape (a 2D slice becomes one slice); else InputError."""
    image, pred = np.asarray(image), np.asarray(pred)
    if image.ndim == 2:
        image, pred = image[None], pred[None]
        gt = None if gt is None else np.asarray(gt)[None]
    if image.ndim != 3 or pred.shape != image.shape or (gt is not None and np.shape(gt) != image.shape):
        raise InputError(f"overlay needs image, prediction (and GT) of one (z, y, x) shape, got image "
                         f"{shape_text(image.shape)}, prediction {shape_text(pred.shape)}"
                         + ("" if gt is None else f", GT {shape_text(np.shape(gt))}"),
                         hint="predict on the image's own voxel grid")
    return image, pred, gt


def save_overlay(image: np.ndarray, pred: np.ndarray, path: str | Path, gt: np.ndarray | None = None,
                 spacing: Sequence[float] | None = None, n_slices: int = 3, title: str = "") -> Path:
    """Write a PNG of ``n_slices`` heart slices (base to apex) with the prediction, and the GT in a second row.

    Args:
        image: volume ``(z, y, x)`` (a 2D slice is accepted as one slice).
        pred: predicted label map, same shape (0 BG, 1 RV, 2 Myo, 3 LV).
        path: output PNG; parent folders are created.
        gt: optional reference label map, same shape.
        spacing: ``(sz, sy, sx)`` in mm for the in-plane pixel aspect; square pixels if ``None``.
        n_slices: number of columns.
        title: figure title (e.g. the case id).

    Example:
        >>> save_overlay(case.image, pred, "figures/patient101_frame01.png", gt=case.label, spacing=case.spacing)
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    image, pred, gt = check_volumes(image, pred, gt)
    ys, xs = heart_box(pred, gt)
    picks = heart_slices(pred, n_slices=n_slices, reference=gt)
    vmin, vmax = window(image[:, ys, xs])
    aspect = 1.0 if spacing is None else float(spacing[-2]) / float(spacing[-1])
    rows = [("prediction", pred)] + ([("ground truth", gt)] if gt is not None else [])
    h, w = image[0, ys, xs].shape
    panel_w = 2.8
    panel_h = float(np.clip(panel_w * h * aspect / w, 1.0, 6.0))
    fig, axes = plt.subplots(len(rows), len(picks), figsize=(panel_w * len(picks), panel_h * len(rows) + 0.8),
                             squeeze=False)
    for r, (row_name, lab) in enumerate(rows):
        for c, (z, name) in enumerate(picks):
            ax = axes[r, c]
            crop = lab[z, ys, xs]
            ax.imshow(overlay_rgb(image[z, ys, xs], crop, contour=False, vmin=vmin, vmax=vmax),
                      aspect=aspect, interpolation="nearest")
            for code, colour in COLOURS.items():
                if (crop == code).any():
                    ax.contour(crop == code, levels=[0.5], colors=[colour], linewidths=1.0)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(name, fontsize=9)
            if c == 0:
                ax.set_ylabel(row_name, fontsize=9)
    fig.legend(handles=[Patch(color=COLOURS[code], label=STRUCTURES[code]) for code in (RV, MYO, LV)],
               loc="lower center", ncol=3, fontsize=8, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)
    return path

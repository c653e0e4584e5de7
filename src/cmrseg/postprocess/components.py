"""Anatomical clean-up of label maps: largest 3D connected component per structure, per-slice hole filling.

Removed components become background; holes inside the LV cavity become LV, holes inside the epicardium
(LV + Myo) that are not LV become myocardium, holes inside the RV become RV.

Optional (``rv_within_mm``): before the largest RV component is taken, RV components with no voxel within that
in-plane distance of the LV + myocardium are removed. The RV wraps the septum, so a predicted "RV" far from the
left heart is something else (on cine: subcutaneous or pericardial fat, which weakly supervised models call RV
and which the largest-component rule keeps when it is bigger than the real RV). Off by default.

Optional (``lv_enclosed``): the LV blood pool kept is the 3D component most enclosed by myocardium instead of the
largest one, and the myocardium kept is the component that covers most of that LV's surroundings. The LV cavity
is ringed by myocardium; a model trained without paired labels can call a bright structure elsewhere (stomach,
aorta, fat) "LV", larger than the true cavity, which it did ring with myocardium. Enclosure = the number of
voxels of the component's in-plane outer shell (``ENCLOSURE_SHELL_MM`` wide) predicted as myocardium: the myocardium
in contact with the candidate, so a large bare blob scores low and so does a speck inside the myocardial wall (a
first version scored the *share* of the shell and lost the LV to such specks; benchmarks/RESULTS.md). The width was
set from anatomy (a myocardial wall is 6-12 mm thick, so a 3 mm shell lies inside it) and never varied. Off by
default.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from cmrseg.labels import LV, MYO, RV


_CONN_26 = np.ones((3, 3, 3), bool)


def components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """26-connected 3D components of a boolean mask: ``(labels, count)`` (anisotropy does not matter here)."""
    return ndimage.label(mask, structure=_CONN_26)


def largest_component(mask: np.ndarray) -> np.ndarray:
    """Keep the largest 26-connected component of a 3D boolean mask."""
    lab, n = components(mask)
    if n <= 1:
        return mask
    sizes = np.bincount(lab.ravel())[1:]
    return lab == (int(np.argmax(sizes)) + 1)


def near_anchor_components(mask: np.ndarray, anchor: np.ndarray, spacing_yx: tuple[float, float],
                           within_mm: float) -> np.ndarray:
    """The 3D components (26-connected) of ``mask`` having a voxel within ``within_mm`` of ``anchor`` in the
    same slice (in-plane distance in mm); ``mask`` unchanged when ``anchor`` is empty."""
    if not anchor.any() or not mask.any():
        return mask
    near = np.zeros_like(mask)
    for z in np.flatnonzero(anchor.reshape(anchor.shape[0], -1).any(1)):
        near[z] = ndimage.distance_transform_edt(~anchor[z], sampling=spacing_yx) <= within_mm
    lab, _ = components(mask)
    keep = np.unique(lab[near & mask])
    return np.isin(lab, keep[keep > 0])


ENCLOSURE_SHELL_MM = 3.0


def outer_shell_2d(mask: np.ndarray, spacing_yx: tuple[float, float], width_mm: float) -> np.ndarray:
    """Voxels outside ``mask`` within ``width_mm`` of it in the same slice (in-plane distance in mm).

    The distance transform runs on each slice's bounding box of ``mask`` grown by the shell width only (every
    shell voxel lies there), not on the whole slice: the LV rule calls this once per candidate component."""
    shell = np.zeros_like(mask)
    pad = [int(np.ceil(width_mm / s)) + 1 for s in spacing_yx]
    for z in np.flatnonzero(mask.reshape(mask.shape[0], -1).any(1)):
        ys, xs = np.nonzero(mask[z])
        box = tuple(slice(max(0, lo - p), hi + p + 1) for lo, hi, p in ((ys.min(), ys.max(), pad[0]),
                                                                          (xs.min(), xs.max(), pad[1])))
        d = ndimage.distance_transform_edt(~mask[z][box], sampling=spacing_yx)
        shell[z][box] = (d > 0) & (d <= width_mm)
    return shell


def most_enclosed_component(mask: np.ndarray, enclosing: np.ndarray, spacing_yx: tuple[float, float],
                            width_mm: float = ENCLOSURE_SHELL_MM) -> np.ndarray:
    """The 3D component (26-connected) of ``mask`` with the most ``enclosing`` voxels in its in-plane outer shell
    (``width_mm`` wide); ties (e.g. no ``enclosing`` anywhere): the larger."""
    lab, n = components(mask)
    if n <= 1:
        return mask
    sizes = np.bincount(lab.ravel())[1:]
    best, best_key = 0, (-1, 0)
    for i in range(n):
        comp = lab == i + 1
        key = (int(enclosing[outer_shell_2d(comp, spacing_yx, width_mm)].sum()), int(sizes[i]))
        if key > best_key:
            best, best_key = i, key
    return lab == best + 1


def most_overlapping_component(mask: np.ndarray, region: np.ndarray) -> np.ndarray:
    """The 3D component (26-connected) of ``mask`` with the most voxels in ``region``; the largest if none has."""
    lab, n = components(mask)
    if n <= 1:
        return mask
    hits = np.bincount(lab[region & mask], minlength=n + 1)[1:]
    if hits.max() == 0:
        return largest_component(mask)
    return lab == int(np.argmax(hits)) + 1


def fill_holes_2d(mask: np.ndarray) -> np.ndarray:
    """Fill holes slice by slice (short-axis holes are in-plane)."""
    return np.stack([ndimage.binary_fill_holes(s) for s in mask])


def postprocess_label(label: np.ndarray, keep_largest: bool = True, fill_holes: bool = True,
                      rv_within_mm: float | None = None, spacing_yx: tuple[float, float] | None = None,
                      lv_enclosed: bool = False) -> np.ndarray:
    """Clean a ``(z, y, x)`` label map in the cmrseg convention (``rv_within_mm`` and ``lv_enclosed``, with the
    map's in-plane ``spacing_yx`` in mm: see the module docstring)."""
    if rv_within_mm is not None and (spacing_yx is None or rv_within_mm < 0):
        raise ValueError(f"rv_within_mm={rv_within_mm} needs the label map's in-plane spacing (y, x) in mm "
                         f"(spacing_yx, got {spacing_yx}) and a distance >= 0")
    if lv_enclosed and spacing_yx is None:
        raise ValueError("lv_enclosed needs the label map's in-plane spacing (y, x) in mm (spacing_yx)")
    out = label.copy()
    lv_shell = None
    if keep_largest:
        for code in (LV, MYO, RV):
            m = out == code
            if code == LV and lv_enclosed and m.any():
                keep = most_enclosed_component(m, out == MYO, spacing_yx)
                out[m & ~keep] = 0
                m, lv_shell = keep, outer_shell_2d(keep, spacing_yx, ENCLOSURE_SHELL_MM)
            if code == MYO and lv_shell is not None and m.any():
                keep = most_overlapping_component(m, lv_shell)
                out[m & ~keep] = 0
                m = keep
            if code == RV and rv_within_mm is not None and m.any():
                near = near_anchor_components(m, (out == LV) | (out == MYO), spacing_yx, rv_within_mm)
                out[m & ~near] = 0
                m = near
            if m.any():
                out[m & ~largest_component(m)] = 0
    if fill_holes:
        lv = fill_holes_2d(out == LV)
        epi = fill_holes_2d((out == LV) | (out == MYO))
        rv = fill_holes_2d(out == RV)
        out[rv & (out == 0)] = RV
        out[epi & ~lv & (out == 0)] = MYO
        out[lv] = LV
    return out

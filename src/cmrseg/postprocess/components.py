"""Anatomical clean-up of label maps: largest 3D connected component per structure, per-slice hole filling.

Removed components become background; holes inside the LV cavity become LV, holes inside the epicardium
(LV + Myo) that are not LV become myocardium, holes inside the RV become RV.

Optional (``rv_within_mm``): before the largest RV component is taken, RV components with no voxel within that
in-plane distance of the LV + myocardium are removed. The RV wraps the septum, so a predicted "RV" far from the
left heart is something else (on cine: subcutaneous or pericardial fat, which weakly supervised models call RV
and which the largest-component rule keeps when it is bigger than the real RV). Off by default.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from cmrseg.labels import LV, MYO, RV


def largest_component(mask: np.ndarray) -> np.ndarray:
    """Keep the largest 26-connected component of a 3D boolean mask (anisotropy does not matter here)."""
    lab, n = ndimage.label(mask, structure=np.ones((3, 3, 3), bool))
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
    lab, _ = ndimage.label(mask, structure=np.ones((3, 3, 3), bool))
    keep = np.unique(lab[near & mask])
    return np.isin(lab, keep[keep > 0])


def fill_holes_2d(mask: np.ndarray) -> np.ndarray:
    """Fill holes slice by slice (short-axis holes are in-plane)."""
    return np.stack([ndimage.binary_fill_holes(s) for s in mask])


def postprocess_label(label: np.ndarray, keep_largest: bool = True, fill_holes: bool = True,
                      rv_within_mm: float | None = None, spacing_yx: tuple[float, float] | None = None) -> np.ndarray:
    """Clean a ``(z, y, x)`` label map in the cmrseg convention (``rv_within_mm``, with the map's in-plane
    ``spacing_yx`` in mm: see the module docstring)."""
    if rv_within_mm is not None and (spacing_yx is None or rv_within_mm < 0):
        raise ValueError(f"rv_within_mm={rv_within_mm} needs the label map's in-plane spacing in mm (spacing_yx, "
                         f"got {spacing_yx}) and a distance >= 0")
    out = label.copy()
    if keep_largest:
        for code in (LV, MYO, RV):
            m = out == code
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

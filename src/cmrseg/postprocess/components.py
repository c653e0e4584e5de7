"""Anatomical clean-up of label maps: largest 3D connected component per structure, per-slice hole filling.

Removed components become background; holes inside the LV cavity become LV, holes inside the epicardium
(LV + Myo) that are not LV become myocardium, holes inside the RV become RV.
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


def fill_holes_2d(mask: np.ndarray) -> np.ndarray:
    """Fill holes slice by slice (short-axis holes are in-plane)."""
    return np.stack([ndimage.binary_fill_holes(s) for s in mask])


def postprocess_label(label: np.ndarray, keep_largest: bool = True, fill_holes: bool = True) -> np.ndarray:
    """Clean a ``(z, y, x)`` label map in the cmrseg convention."""
    out = label.copy()
    if keep_largest:
        for code in (LV, MYO, RV):
            m = out == code
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

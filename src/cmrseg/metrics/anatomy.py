"""Anatomical plausibility of short-axis label maps: the errors no overlap metric shows.

Checks per volume ``(z, y, x)`` in the cmrseg convention (after the criteria of N. Painchaud et al.,
"Cardiac Segmentation with Strong Anatomical Guarantees", IEEE TMI 2020, reduced to the two that matter
most for clinical indices):

* **LV not enclosed by myocardium**: a slice where an LV blood-pool pixel touches (4-neighbourhood) a pixel
  that is neither LV nor myocardium (background, RV, or the image border). The LV cavity is surrounded by
  myocardium on every short-axis slice except, in some expert contours, the most basal one (outflow tract);
  the ground truth's own rate is therefore worth printing beside a method's.
* **Fragmented structure**: a structure made of several connected components within a slice
  (8-connectivity). Also counted, but *not* part of ``impossible``: several components in 3D (26-connectivity,
  the definition the post-processing uses) - with 5-10 mm between slices, motion between breath-holds or a
  structure absent on one slice breaks 3D connectivity in expert labels too.

On the 20 ACDC val volumes the expert labels give: LV not enclosed 5 % (one basal slice), fragmented within a
slice 0 %, fragmented in 3D 15 % - hence ``impossible`` = LV not enclosed or fragmented within a slice.

Use them on the network's raw argmax (before :func:`cmrseg.postprocess.postprocess_label`, which removes
3D fragments by construction) to measure what a shape prior changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from cmrseg.labels import LV, MYO, STRUCTURES

_CONN_2D = np.ones((3, 3), bool)
_CONN_3D = np.ones((3, 3, 3), bool)


@dataclass(frozen=True)
class AnatomyReport:
    """Anatomical checks of one volume.

    Attributes:
        lv_open_slices: slices where the LV touches something other than myocardium (or the border).
        components_3d: connected components per structure name (0 = absent).
        fragmented_slices: per structure, slices holding more than one 2D component.
    """

    lv_open_slices: int
    components_3d: dict[str, int]
    fragmented_slices: dict[str, int]

    @property
    def lv_not_enclosed(self) -> bool:
        return self.lv_open_slices > 0

    @property
    def fragmented_3d(self) -> bool:
        return any(n > 1 for n in self.components_3d.values())

    @property
    def fragmented_2d(self) -> bool:
        return any(n > 0 for n in self.fragmented_slices.values())

    @property
    def impossible(self) -> bool:
        """LV not enclosed by myocardium, or a structure in several pieces within a slice."""
        return self.lv_not_enclosed or self.fragmented_2d


def lv_open_slices(label: np.ndarray) -> int:
    """Number of slices where an LV pixel has a 4-neighbour that is neither LV nor myocardium.

    Pixels outside the image count as background (an LV cut by the border is not enclosed).
    """
    lv = label == LV
    enclosing = np.pad((label == LV) | (label == MYO), ((0, 0), (1, 1), (1, 1)), constant_values=False)
    neighbours_ok = (enclosing[:, :-2, 1:-1] & enclosing[:, 2:, 1:-1]
                     & enclosing[:, 1:-1, :-2] & enclosing[:, 1:-1, 2:])
    return int((lv & ~neighbours_ok).reshape(label.shape[0], -1).any(1).sum())


def anatomy_checks(label: np.ndarray) -> AnatomyReport:
    """Run the checks on one ``(z, y, x)`` label map (codes 0-3).

    Example:
        >>> lab = np.zeros((1, 9, 9), np.uint8); lab[0, 2:7, 2:7] = 2; lab[0, 3:6, 3:6] = 3
        >>> anatomy_checks(lab).impossible
        False
    """
    if label.ndim != 3:
        raise ValueError(f"anatomy_checks expects a (z, y, x) label map, got shape {label.shape}")
    comps, frag = {}, {}
    for code, name in STRUCTURES.items():
        m = label == code
        comps[name] = int(ndimage.label(m, structure=_CONN_3D)[1]) if m.any() else 0
        frag[name] = sum(1 for s in m if s.any() and ndimage.label(s, structure=_CONN_2D)[1] > 1)
    return AnatomyReport(lv_open_slices(label), comps, frag)


def anatomy_summary(reports: Iterable[AnatomyReport]) -> dict[str, float]:
    """Share of volumes (0-1) failing each check, and the share failing any: ``impossible``."""
    reports = list(reports)
    if not reports:
        return {"n": 0}
    share = lambda f: float(np.mean([f(r) for r in reports]))  # noqa: E731
    return {"n": len(reports), "lv_not_enclosed": share(lambda r: r.lv_not_enclosed),
            "fragmented_3d": share(lambda r: r.fragmented_3d), "fragmented_2d": share(lambda r: r.fragmented_2d),
            "impossible": share(lambda r: r.impossible)}

"""Automatic quality-control flags for predicted label maps and the clinical indices derived from them.

A cohort of thousands of scans cannot be inspected by eye; these flags point a reader to the few volumes and
subjects worth looking at. They flag *implausible* results, they do not prove a result right:

* per volume: an empty structure, a structure volume outside a plausible adult range, and a structure that
  the network predicted in several pieces (share of voxels outside its largest 3D component, measured on the
  raw argmax *before* post-processing, which keeps only the largest component and so hides the problem);
* per subject: LV ejection fraction outside 10-85 %, RV ejection fraction outside 0-90 % (below 0: ESV > EDV),
  RV/LV end-diastolic volume ratio outside 0.25-4 (the subject table also flags a missing ED or ES volume).

The defaults flag *none* of the 80 ACDC expert label pairs (train + val; 60 % of them pathological: LVEF
10.7-81.9 %, RVEF 1.9-85.9 %, RV/LV EDV 0.31-3.26) nor any of their 160 volumes, so a flag on a prediction
points at the prediction, not at the disease. (Tighter "normal" ranges, e.g. RV/LV 0.5-2.5, flagged 16 of
those 80 expert-labelled subjects: dilated LVs and RVs are what such cohorts are scanned for.)

Flags are short codes (e.g. ``empty_RV``, ``LV_EF_out_of_range``), ``";"``-joined in the results tables.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from cmrseg.labels import STRUCTURES
from cmrseg.postprocess import largest_component


@dataclass(frozen=True)
class QCLimits:
    """Plausible ranges; a value outside raises a flag.

    Attributes:
        volume_ml: per-structure ``(min, max)`` volume of one 3D frame in mL (LV/RV blood pool, myocardium).
        max_fragment_pct: largest share (%) of a structure's voxels allowed outside its largest component.
        lv_ef_pct, rv_ef_pct: ``(min, max)`` ejection fraction in %.
        rv_lv_edv_ratio: ``(min, max)`` of RV EDV / LV EDV.
    """

    volume_ml: Mapping[str, tuple[float, float]] = field(
        default_factory=lambda: {"LV": (3.0, 500.0), "Myo": (20.0, 400.0), "RV": (3.0, 600.0)})
    max_fragment_pct: float = 5.0
    lv_ef_pct: tuple[float, float] = (10.0, 85.0)
    rv_ef_pct: tuple[float, float] = (0.0, 90.0)
    rv_lv_edv_ratio: tuple[float, float] = (0.25, 4.0)


def fragment_pct(label: np.ndarray) -> dict[str, float]:
    """Per structure, % of its voxels outside its largest 26-connected 3D component (0 when empty or whole)."""
    out = {}
    for code, name in STRUCTURES.items():
        mask = label == code
        n = int(mask.sum())
        out[name] = 0.0 if n == 0 else 100.0 * (n - int(largest_component(mask).sum())) / n
    return out


def _outside(value: float, bounds: tuple[float, float]) -> bool:
    return math.isfinite(value) and not bounds[0] <= value <= bounds[1]


def volume_flags(volumes_ml: Mapping[str, float], fragments_pct: Mapping[str, float],
                 limits: QCLimits = QCLimits()) -> list[str]:
    """Flags of one predicted volume from its structure volumes (mL) and fragment shares (%).

    Example:
        >>> volume_flags({"LV": 120.0, "Myo": 0.0, "RV": 900.0}, {"LV": 12.0, "Myo": 0.0, "RV": 0.0})
        ['fragmented_LV', 'empty_Myo', 'implausible_RV_volume']
    """
    flags = []
    for name in STRUCTURES.values():
        vol = float(volumes_ml[name])
        if vol == 0:
            flags.append(f"empty_{name}")
            continue
        if _outside(vol, limits.volume_ml[name]):
            flags.append(f"implausible_{name}_volume")
        if fragments_pct[name] > limits.max_fragment_pct:
            flags.append(f"fragmented_{name}")
    return flags


def subject_flags(indices: Mapping[str, float | str], limits: QCLimits = QCLimits()) -> list[str]:
    """Flags of one subject's clinical indices (keys of :func:`cmrseg.metrics.clinical.clinical_indices`).

    Example:
        >>> subject_flags({"LV_EF_pct": 92.0, "RV_EF_pct": 50.0, "LV_EDV_ml": 100.0, "RV_EDV_ml": 500.0})
        ['LV_EF_out_of_range', 'RV_LV_ratio_out_of_range']
    """
    bounds = {"LV": limits.lv_ef_pct, "RV": limits.rv_ef_pct}
    flags = [f"{s}_EF_out_of_range" for s in ("LV", "RV") if _outside(float(indices[f"{s}_EF_pct"]), bounds[s])]
    lv, rv = float(indices["LV_EDV_ml"]), float(indices["RV_EDV_ml"])
    if lv > 0 and _outside(rv / lv, limits.rv_lv_edv_ratio):
        flags.append("RV_LV_ratio_out_of_range")
    return flags

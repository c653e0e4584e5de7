"""Clinical indices from ED and ES label maps: ventricular volumes, stroke volumes, ejection fractions and LV
myocardial mass, as reported in the ACDC challenge (Bernard et al., IEEE TMI 2018).

Volumes are voxel counts times voxel volume (no slice interpolation); papillary muscles and trabeculae count
as whatever the label map says they are.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from cmrseg.labels import STRUCTURES

#: Myocardial tissue density in g/mL used for LV mass (ACDC / UK Biobank convention).
MYOCARDIUM_DENSITY_G_PER_ML = 1.05

#: Keys of :func:`clinical_indices` holding numbers, in report order.
CLINICAL_INDICES: tuple[str, ...] = (
    "LV_EDV_ml", "LV_ESV_ml", "LV_SV_ml", "LV_EF_pct",
    "RV_EDV_ml", "RV_ESV_ml", "RV_SV_ml", "RV_EF_pct",
    "LV_mass_g",
)


def voxel_volume_ml(spacing: Sequence[float]) -> float:
    """Volume of one voxel in mL (``sz * sy * sx`` mm^3 / 1000)."""
    return float(np.prod(np.asarray(spacing, dtype=float))) / 1000.0


def structure_volumes_ml(label: np.ndarray, spacing: Sequence[float]) -> dict[str, float]:
    """Volume in mL of each structure of a label map: ``{"LV": .., "Myo": .., "RV": ..}``."""
    counts = np.bincount(np.asarray(label, dtype=np.int64).ravel(), minlength=4)
    unit = voxel_volume_ml(spacing)
    return {name: float(counts[code]) * unit for code, name in STRUCTURES.items()}


def _ejection(prefix: str, edv: float, esv: float, notes: list[str]) -> dict[str, float]:
    sv = edv - esv
    if edv > 0:
        ef = 100.0 * sv / edv
        if esv > edv:
            notes.append(f"{prefix} ESV > EDV (negative EF): are ED and ES swapped?")
    else:
        ef = math.nan
        notes.append(f"{prefix} EF undefined: {prefix} EDV is 0 (no {prefix} blood pool at ED)")
    return {f"{prefix}_EDV_ml": edv, f"{prefix}_ESV_ml": esv, f"{prefix}_SV_ml": sv, f"{prefix}_EF_pct": ef}


def clinical_from_volumes(ed_ml: dict[str, float], es_ml: dict[str, float]) -> dict[str, float | str]:
    """:func:`clinical_indices` from structure volumes in mL (``{"LV", "Myo", "RV"}`` at ED and at ES)."""
    notes: list[str] = []
    out: dict[str, float | str] = {}
    out.update(_ejection("LV", float(ed_ml["LV"]), float(es_ml["LV"]), notes))
    out.update(_ejection("RV", float(ed_ml["RV"]), float(es_ml["RV"]), notes))
    out["LV_mass_g"] = float(ed_ml["Myo"]) * MYOCARDIUM_DENSITY_G_PER_ML
    out["notes"] = "; ".join(notes)
    return out


def clinical_indices(ed_label: np.ndarray, es_label: np.ndarray,
                     spacing_ed: Sequence[float], spacing_es: Sequence[float]) -> dict[str, float | str]:
    """EDV, ESV, SV (mL) and EF (%) of LV and RV, and LV myocardial mass at ED (g), for one patient.

    ``SV = EDV - ESV``; ``EF = 100 * SV / EDV``; ``mass = Myo volume at ED * 1.05 g/mL``.

    Returns:
        the numeric keys of :data:`CLINICAL_INDICES` plus ``"notes"``: a ``"; "``-joined string of reasons
        for NaN or implausible values (``""`` when none). An EF with EDV 0 is NaN with a note, never an error.

    Example:
        >>> ed = np.zeros((10, 10, 10), np.uint8); ed[:] = 3      # 1000 LV voxels of 1 mm^3
        >>> es = ed.copy(); es[4:] = 0                           # 400 at ES
        >>> clinical_indices(ed, es, (1, 1, 1), (1, 1, 1))["LV_EF_pct"]
        60.0
    """
    return clinical_from_volumes(structure_volumes_ml(ed_label, spacing_ed),
                                 structure_volumes_ml(es_label, spacing_es))

"""Evaluate predicted label maps against ground truth: per-volume overlap and surface metrics, a per-structure
summary, per-patient clinical indices and their agreement with the reference.

Empty masks follow the policy of :mod:`cmrseg.metrics.surface` (never NaN, so every volume counts in means).

Folder evaluation (:func:`evaluate_folders`):

* pairing: a prediction ``X.nii.gz`` (or ``.nii``) is matched, anywhere under ``gt_dir``, with
  ``X_gt``, ``X_manual`` or ``X_label``. If ``gt_dir`` holds no file with one of these suffixes, every
  NIfTI file there is ground truth and ``X`` matches ``X``; if it holds some (ACDC: images ``X`` beside labels
  ``X_gt``), only the suffixed files are ground truth. GT files without a prediction are reported in
  ``missing_predictions``; predictions without GT in ``unmatched_predictions``.
* geometry: spacing comes from the GT header; pred and GT must have the same voxel grid shape.
* patient and phase: a name ending in ``_ED`` / ``_ES`` gives both directly; otherwise patient = name up to
  ``_frame`` (ACDC ``patient001_frame01``) or the whole name. For a patient with exactly two evaluated frames
  and no explicit phase, ED is the frame whose **GT** LV blood-pool volume is larger and ES the other (ties:
  no phase, with a note). Clinical indices need one ED and one ES volume per patient.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cmrseg.axes import shape_text, spacing_text
from cmrseg.data.case import Case, validate_label
from cmrseg.errors import InputError
from cmrseg.io.nifti import is_nifti, read_nifti, strip_nifti_suffix
from cmrseg.labels import STRUCTURES
from cmrseg.metrics.agreement import AgreementStats, agreement_stats
from cmrseg.metrics.clinical import CLINICAL_INDICES, clinical_from_volumes, voxel_volume_ml
from cmrseg.metrics.overlap import dice
from cmrseg.metrics.surface import BOTH_EMPTY, FALSE_POSITIVE, MISSED, surface_distances

log = logging.getLogger(__name__)

GT_SUFFIXES: tuple[str, ...] = ("_gt", "_manual", "_label")
PER_CASE_COLUMNS: tuple[str, ...] = ("case_id", "patient", "phase", "structure", "dice", "hd95_mm", "assd_mm",
                                     "status", "pred_ml", "gt_ml")


@dataclass(frozen=True)
class StructureMetrics:
    """Metrics of one structure in one volume; ``status`` is ``ok``/``missed``/``false_positive``/``both_empty``."""

    structure: str
    label: int
    dice: float
    hd95_mm: float
    assd_mm: float
    status: str
    pred_ml: float
    gt_ml: float


def _json_safe(obj):
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return None if not math.isfinite(float(obj)) else float(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


@dataclass
class EvaluationResult:
    """Everything :func:`evaluate_cases` / :func:`evaluate_folders` found.

    Attributes:
        per_case: one row per volume x structure, columns :data:`PER_CASE_COLUMNS`.
        summary: per structure ``{"LV": {...}, "Myo": ..., "RV": ..., "mean": {...}}`` (see :func:`summarize`).
        clinical: one row per patient with ED and ES: ``<index>_pred``, ``<index>_gt``, ``notes_pred/gt``.
        agreement: :class:`AgreementStats` of pred vs GT per clinical index.
        missing_predictions: GT files (or case ids) that had no prediction.
        unmatched_predictions: predictions that had no GT.
        notes: anything else worth knowing (phase assignment, spacing differences, ...).
        extra: top-level entries for ``summary.json`` added by the caller (protocol, timings, ...).
    """

    per_case: pd.DataFrame
    summary: dict
    clinical: pd.DataFrame
    agreement: dict[str, AgreementStats]
    missing_predictions: list[str] = field(default_factory=list)
    unmatched_predictions: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    def save(self, out_dir: str | Path) -> dict[str, Path]:
        """Write ``per_case.csv``, ``summary.json``, ``clinical.csv``, ``agreement.json``; NaN becomes null."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {name: out / name for name in ("per_case.csv", "summary.json", "clinical.csv", "agreement.json")}
        self.per_case.to_csv(paths["per_case.csv"], index=False)
        self.clinical.to_csv(paths["clinical.csv"], index=False)
        summary = {"structures": self.summary, "n_volumes": int(self.per_case["case_id"].nunique())
                   if len(self.per_case) else 0, "missing_predictions": self.missing_predictions,
                   "unmatched_predictions": self.unmatched_predictions, "notes": self.notes, **self.extra}
        paths["summary.json"].write_text(json.dumps(_json_safe(summary), indent=2), encoding="utf-8")
        agree = {k: v.to_dict() for k, v in self.agreement.items()}
        paths["agreement.json"].write_text(json.dumps(_json_safe(agree), indent=2), encoding="utf-8")
        return paths


def evaluate_pair(pred_label: np.ndarray, gt_label: np.ndarray, spacing: Sequence[float],
                  pred_path: str | Path | None = None, gt_path: str | Path | None = None) -> list[StructureMetrics]:
    """Dice, HD95, ASSD and volumes of LV, Myo and RV for one predicted label map vs its GT (``(z, y, x)``).

    Raises:
        InputError: different shapes (naming both files when given) or label values outside 0..3.
    """
    pred_label, gt_label = np.asarray(pred_label), np.asarray(gt_label)
    if gt_label.ndim != 3:
        raise InputError(f"expected 3D label maps (z, y, x), got {shape_text(gt_label.shape)}", gt_path,
                         "evaluate one cardiac frame at a time")
    if pred_label.shape != gt_label.shape:
        where = f" ({pred_path} vs {gt_path})" if pred_path or gt_path else ""
        raise InputError(f"prediction {shape_text(pred_label.shape)} differs from GT {shape_text(gt_label.shape)}"
                         f"{where}",
                         pred_path, "predict on the GT's voxel grid (same image, no resampling)")
    gt_label = validate_label(gt_label, gt_label.shape, gt_path)
    pred_label = validate_label(pred_label, gt_label.shape, pred_path)
    unit = voxel_volume_ml(spacing)
    out = []
    for code, name in STRUCTURES.items():
        p, g = pred_label == code, gt_label == code
        sd = surface_distances(p, g, spacing)
        out.append(StructureMetrics(name, code, dice(p, g), sd.hd95_mm, sd.assd_mm, sd.status,
                                    int(p.sum()) * unit, int(g.sum()) * unit))
    return out


def _rows(case_id: str, patient: str, phase: str | None, metrics: list[StructureMetrics]) -> list[dict]:
    return [{"case_id": case_id, "patient": patient, "phase": phase, "structure": m.structure, "dice": m.dice,
             "hd95_mm": m.hd95_mm, "assd_mm": m.assd_mm, "status": m.status, "pred_ml": m.pred_ml,
             "gt_ml": m.gt_ml} for m in metrics]


def summarize(per_case: pd.DataFrame) -> dict:
    """Per structure: n, mean/std (ddof=1) Dice, mean HD95/ASSD, counts of missed/false positive/both empty;
    ``"mean"``: the unweighted mean of the three structures' means and the total counts."""
    out: dict = {}
    for name in STRUCTURES.values():
        d = per_case[per_case["structure"] == name]
        n = len(d)
        out[name] = {
            "n": n,
            "dice_mean": float(d["dice"].mean()) if n else math.nan,
            "dice_std": float(d["dice"].std(ddof=1)) if n > 1 else math.nan,
            "hd95_mm_mean": float(d["hd95_mm"].mean()) if n else math.nan,
            "assd_mm_mean": float(d["assd_mm"].mean()) if n else math.nan,
            "n_missed": int((d["status"] == MISSED).sum()),
            "n_false_positive": int((d["status"] == FALSE_POSITIVE).sum()),
            "n_both_empty": int((d["status"] == BOTH_EMPTY).sum()),
        }
    per = [out[name] for name in STRUCTURES.values()]
    out["mean"] = {k: float(np.mean([s[k] for s in per])) for k in ("dice_mean", "hd95_mm_mean", "assd_mm_mean")}
    out["mean"].update({k: int(sum(s[k] for s in per)) for k in ("n_missed", "n_false_positive", "n_both_empty")})
    return out


def _clinical(per_case: pd.DataFrame, notes: list[str]) -> tuple[pd.DataFrame, dict[str, AgreementStats]]:
    rows = []
    for patient, d in per_case.groupby("patient", sort=True):
        phases = d.drop_duplicates("case_id")["phase"].tolist()
        if phases.count("ED") != 1 or phases.count("ES") != 1:
            if "ED" in phases or "ES" in phases:
                notes.append(f"{patient}: no clinical indices, need exactly one ED and one ES volume, got {phases}")
            continue
        vols = {ph: {src: dict(zip(d.loc[d["phase"] == ph, "structure"], d.loc[d["phase"] == ph, f"{src}_ml"]))
                     for src in ("pred", "gt")} for ph in ("ED", "ES")}
        row: dict = {"patient": patient, "ed_case": d.loc[d["phase"] == "ED", "case_id"].iloc[0],
                     "es_case": d.loc[d["phase"] == "ES", "case_id"].iloc[0]}
        for src in ("pred", "gt"):
            ind = clinical_from_volumes(vols["ED"][src], vols["ES"][src])
            row.update({f"{k}_{src}": ind[k] for k in CLINICAL_INDICES})
            row[f"notes_{src}"] = ind["notes"]
        rows.append(row)
    columns = ["patient", "ed_case", "es_case"] + [f"{k}_{s}" for k in CLINICAL_INDICES for s in ("pred", "gt")]
    table = pd.DataFrame(rows, columns=columns + ["notes_pred", "notes_gt"])
    stats = {k: agreement_stats(table[f"{k}_pred"].to_numpy(float), table[f"{k}_gt"].to_numpy(float))
             for k in CLINICAL_INDICES} if len(table) else {}
    return table, stats


def _result(rows: list[dict], missing: list[str], unmatched: list[str], notes: list[str]) -> EvaluationResult:
    per_case = pd.DataFrame(rows, columns=list(PER_CASE_COLUMNS))
    clinical, stats = _clinical(per_case, notes)
    for what, items in (("GT without prediction", missing), ("prediction without GT", unmatched)):
        if items:  # a count and a few names, not hundreds of paths on one line (all are in summary.json)
            shown = ", ".join(Path(i).name for i in items[:3]) + (f", ... ({len(items) - 3} more)" if len(items) > 3
                                                                  else "")
            log.warning("%d %s (listed in summary.json): %s", len(items), what, shown)
    return EvaluationResult(per_case, summarize(per_case), clinical, stats, missing, unmatched, notes)


def evaluate_cases(pairs: Sequence[tuple[Case, Case]]) -> EvaluationResult:
    """Evaluate ``(prediction, ground truth)`` case pairs; ids, patient, phase and spacing come from the GT case.

    Raises:
        InputError: a case without a label map, different shapes, or label values outside 0..3.
    """
    rows: list[dict] = []
    notes: list[str] = []
    for pred, gt in pairs:
        for case, role in ((pred, "prediction"), (gt, "ground truth")):
            if case.label is None:
                raise InputError(f"{role} case {case.case_id!r} has no label map", case.source,
                                 "attach the label map (Case.with_label) before evaluating")
        if not np.allclose(pred.spacing, gt.spacing, rtol=1e-3):
            notes.append(f"{gt.case_id}: prediction {spacing_text(pred.spacing)} differs from GT "
                         f"{spacing_text(gt.spacing)}; GT used")
        metrics = evaluate_pair(pred.label, gt.label, gt.spacing, pred.source, gt.source)
        rows += _rows(gt.case_id, gt.patient, gt.phase or pred.phase, metrics)
    return _result(rows, [], [], notes)


def _index(folder: Path, role: str) -> dict[str, Path]:
    found: dict[str, Path] = {}
    files = [Path(d) / f for d, _, names in os.walk(folder, followlinks=True) for f in names]  # symlinked folders too
    for path in sorted(files):
        if not (path.is_file() and is_nifti(path.name)) or path.name.startswith("."):
            continue
        stem = strip_nifti_suffix(path.name)
        if stem in found:
            raise InputError(f"two {role} files are both named {stem!r}: {found[stem]} and {path}", folder,
                             "keep one file per case name")
        found[stem] = path
    return found


def _gt_key(stem: str) -> str | None:
    for suffix in GT_SUFFIXES:
        if stem.lower().endswith(suffix):
            return stem[: -len(suffix)]
    return None


def _patient_phase(name: str) -> tuple[str, str | None]:
    m = re.match(r"^(.+)_(ED|ES)$", name, flags=re.IGNORECASE)
    if m:
        return m.group(1), m.group(2).upper()
    m = re.match(r"^(.+?)_frame", name)
    return (m.group(1) if m else name), None


def _assign_phases(rows: list[dict], notes: list[str]) -> None:
    """Two frames of one patient without explicit phase: ED = larger GT LV volume (see module docstring)."""
    lv = {r["case_id"]: r for r in rows if r["structure"] == STRUCTURES[3]}
    by_patient: dict[str, list[str]] = {}
    for case_id, r in lv.items():
        if r["phase"] is None:
            by_patient.setdefault(r["patient"], []).append(case_id)
    for patient, ids in by_patient.items():
        if len(ids) != 2:
            continue
        a, b = ids
        if lv[a]["gt_ml"] == lv[b]["gt_ml"]:
            notes.append(f"{patient}: {a} and {b} have the same GT LV volume, ED/ES not assigned")
            continue
        ed, es = (a, b) if lv[a]["gt_ml"] > lv[b]["gt_ml"] else (b, a)
        for r in rows:
            if r["case_id"] in (ed, es):
                r["phase"] = "ED" if r["case_id"] == ed else "ES"


def check_same_grid(pred_spacing: tuple, pred_affine: np.ndarray, gt_spacing: tuple, gt_affine: np.ndarray,
                    pred_path: Path, gt_path: Path, tol_mm: float = 0.1) -> None:
    """Refuse a prediction whose voxels are not the ground truth's: another spacing, orientation or origin
    (beyond ``tol_mm``). Overlap of arrays on different grids would be a silent wrong number."""
    problems = []
    if not np.allclose(pred_spacing, gt_spacing, rtol=1e-3):
        problems.append(f"prediction {spacing_text(pred_spacing)} vs GT {spacing_text(gt_spacing)}")
    if pred_affine is not None and gt_affine is not None:
        a, b = np.asarray(pred_affine, float), np.asarray(gt_affine, float)
        if not np.allclose(a[:3, :3], b[:3, :3], atol=1e-3 * max(1.0, float(np.abs(b[:3, :3]).max()))):
            problems.append("orientation (affine axes) differs")
        shift = float(np.linalg.norm(a[:3, 3] - b[:3, 3]))
        if shift > tol_mm:
            problems.append(f"origin shifted by {shift:.1f} mm")
    if problems:
        raise InputError(f"prediction {pred_path} is on another grid than its ground truth: {'; '.join(problems)}",
                         gt_path, "predict from the same image file as the ground truth (cmrseg predict writes on the "
                         "input's own grid and header), or resample the prediction onto the GT's grid first")


def evaluate_folders(pred_dir: str | Path, gt_dir: str | Path, match_clusters: bool = False) -> EvaluationResult:
    """Evaluate every prediction NIfTI in ``pred_dir`` against its GT in ``gt_dir`` (pairing, geometry and phase
    rules in the module docstring).

    With ``match_clusters`` (unsupervised clusterings), predicted codes are first mapped to classes by the
    best one-to-one assignment pooled over all pairs (:func:`cmrseg.metrics.clusters.match_clusters`); the
    mapping is stored in ``result.extra["cluster_mapping"]`` and in the notes.

    Raises:
        InputError: a folder missing, no prediction matching any GT, duplicate names, a pred/GT shape mismatch
            (naming both files), or label values outside 0..3.
    """
    pred_dir, gt_dir = Path(pred_dir), Path(gt_dir)
    for folder, role in ((pred_dir, "prediction"), (gt_dir, "ground-truth")):
        if not folder.is_dir():
            raise InputError(f"{role} folder does not exist or is not a folder", folder, "check the path")
    preds = _index(pred_dir, "prediction")
    gt_all = _index(gt_dir, "ground-truth")
    suffixed = {_gt_key(s): p for s, p in gt_all.items() if _gt_key(s)}
    gts = suffixed if suffixed else gt_all
    pairs = [(name, preds[name], gts[name]) for name in sorted(preds) if name in gts]
    if not pairs:
        raise InputError(f"no prediction in {pred_dir} matches a ground-truth file ({len(preds)} predictions, "
                         f"{len(gts)} GT files)", gt_dir,
                         "name predictions X.nii.gz for GT X.nii.gz, X_gt.nii.gz, X_manual.nii.gz or X_label.nii.gz")
    rows: list[dict] = []
    notes: list[str] = []
    mapping = None
    loaded = ((name, read_nifti(p, kind="label"), read_nifti(g, kind="label"), p, g) for name, p, g in pairs)
    if match_clusters:  # needs every pair before scoring any: read once, keep in memory
        from cmrseg.metrics.clusters import match_clusters as _match

        loaded = list(loaded)
        mapping, _ = _match([pr[0] for _, pr, _, _, _ in loaded], [gt[0] for _, _, gt, _, _ in loaded],
                            n_clusters=4, n_classes=4)
        notes.append(f"cluster -> class mapping (Hungarian, pooled Dice): {mapping.tolist()}")
    for name, (pred, pred_spacing, pred_affine), (gt, gt_spacing, gt_affine), pred_path, gt_path in loaded:
        if mapping is not None:
            pred = mapping[np.asarray(pred, dtype=np.int64)].astype(np.uint8)
        check_same_grid(pred_spacing, pred_affine, gt_spacing, gt_affine, pred_path, gt_path)
        patient, phase = _patient_phase(name)
        rows += _rows(name, patient, phase, evaluate_pair(pred, gt, gt_spacing, pred_path, gt_path))
    _assign_phases(rows, notes)
    missing = [str(gts[name]) for name in sorted(gts) if name not in preds]
    unmatched = [str(preds[name]) for name in sorted(preds) if name not in gts]
    result = _result(rows, missing, unmatched, notes)
    if mapping is not None:
        result.extra["cluster_mapping"] = mapping.tolist()
    return result

"""Segment a whole cine and derive its clinical numbers: one call from a 4D NIfTI / DICOM cine to the 4D label
map, the volume-time curve (CSV + PNG) and ``<name>_clinical.json`` (ED/ES, EF, LV mass, rates, QC flags).

Example:
    >>> p = Predictor.from_checkpoint("runs/acdc_sup70/checkpoints/best.pt")          # doctest: +SKIP
    >>> r = predict_cine_file(p, "../shared/data/sunnybrook_cine/SCD0000501", "out/")  # doctest: +SKIP
    >>> r.report["LV_EF_pct"], r.seconds_per_frame                                     # doctest: +SKIP
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cmrseg.errors import InputError
from cmrseg.inference.predictor import Predictor
from cmrseg.io.cine import Cine, PhaseHint, read_cine
from cmrseg.io.nifti import strip_nifti_suffix
from cmrseg.metrics.cine import CineQCLimits, cine_report, plot_curve, volume_curve, write_curve_csv, write_report_json

FRAMES_HELP = "all | ed-es | LIST of 1-based frame numbers and ranges, e.g. 1,8 or 1-5,12"


@dataclass
class CineResult:
    """What :func:`predict_cine_file` wrote and measured.

    Attributes:
        labels_path: the 4D label map; ``csv_path``, ``png_path``, ``json_path``: the curve and the numbers.
        report: the contents of ``json_path`` (:func:`cmrseg.metrics.cine.cine_report` plus input facts).
        n_frames, n_slices: the cine's size; ``frames``: the segmented time indices (0-based).
        seconds_per_frame: segmentation wall time per frame; ``seconds_read``: reading the input.
    """

    labels_path: Path
    csv_path: Path
    png_path: Path
    json_path: Path
    report: dict[str, Any]
    n_frames: int
    n_slices: int
    frames: list[int] = field(default_factory=list)
    seconds_per_frame: float = 0.0
    seconds_read: float = 0.0

    @property
    def paths(self) -> list[Path]:
        return [self.labels_path, self.csv_path, self.png_path, self.json_path]


def parse_frames(spec: str, n_frames: int, phases: PhaseHint | None = None, where: Path | None = None) -> list[int]:
    """0-based time indices chosen by ``spec`` (:data:`FRAMES_HELP`).

    Raises:
        InputError: an unreadable spec, frame numbers outside ``1..n_frames``, or ``ed-es`` when no source
            gives ED/ES (they are only found from the volume curve of every frame).
    """
    text = spec.strip().lower()
    if text == "all":
        return list(range(n_frames))
    if text in ("ed-es", "ed,es", "edes"):
        if phases is None:
            raise InputError("--frames ed-es: no ED/ES frames are given for this cine (no Info.cfg / M&Ms CSV beside "
                             "it)", where, "give them with --phases CSV (columns patient,ed_frame,es_frame), or use "
                             "--frames all: ED/ES are then found from the LV volume curve")
        return sorted({phases.ed, phases.es})
    chosen: set[int] = set()
    for part in text.split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if m is None:
            raise InputError(f"--frames {spec!r}: {part.strip()!r} is not a frame number or range", where,
                             f"use {FRAMES_HELP}")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if not 1 <= lo <= hi <= n_frames:
            raise InputError(f"--frames {spec!r}: frames {lo}-{hi} are outside this cine's frames 1..{n_frames}", where,
                             "frame numbers are 1-based")
        chosen.update(range(lo - 1, hi))
    return sorted(chosen)


def output_stem(dst: Path) -> Path:
    """``out/name.nii.gz`` -> ``out/name`` (the side files are ``<stem>_volumes.csv`` etc.)."""
    return dst.with_name(strip_nifti_suffix(dst.name))


def predict_cine_file(predictor: Predictor, src: str | Path | Cine, dst: str | Path, frames: str = "all",
                      phases_csv: str | Path | None = None, frame_ms: float | None = None,
                      limits: CineQCLimits = CineQCLimits()) -> CineResult:
    """Segment the chosen frames of a cine and write ``dst`` (4D label map on the input's grid and header) with
    ``<stem>_volumes.csv``, ``<stem>_volumes.png`` and ``<stem>_clinical.json`` beside it.

    Args:
        predictor: a loaded model (one load for any number of cines).
        src: a 4D NIfTI, a DICOM cine folder, or a :class:`~cmrseg.io.cine.Cine` already read.
        dst: the label map path (``.nii.gz``), or a folder (``<folder>/<input name>.nii.gz``).
        frames: :data:`FRAMES_HELP`.
        phases_csv, frame_ms: ED/ES per subject and the frame interval, see :func:`cmrseg.io.cine.read_cine`.
        limits: QC thresholds.

    Raises:
        InputError: unreadable input, a bad ``frames`` choice, or given ED/ES frames left out by ``frames``.
    """
    t0 = time.perf_counter()
    cine = src if isinstance(src, Cine) else read_cine(src, phases_csv, frame_ms)
    seconds_read = time.perf_counter() - t0
    dst = Path(dst)
    if dst.suffix.lower() not in (".nii", ".gz"):
        stem = strip_nifti_suffix(cine.source.name) if cine.source.is_file() else cine.source.name
        dst = dst / f"{stem}.nii.gz"
    chosen = parse_frames(frames, cine.n_frames, cine.phases, cine.source)
    if cine.phases is not None and not {cine.phases.ed, cine.phases.es} <= set(chosen):
        raise InputError(f"--frames {frames!r} leaves out the given ED/ES frames {cine.phases.ed + 1}/"
                         f"{cine.phases.es + 1} ({cine.phases.source})", cine.source,
                         "include them, e.g. --frames all or --frames ed-es")
    pred = predictor.predict_cine(cine, chosen)
    cine.write_labels(pred.labels, dst)
    curve = volume_curve([pred.labels[t] for t in chosen], cine.spacing, chosen, cine.n_frames, cine.frame_times_ms)
    hint = cine.phases
    report = cine_report(curve, hint.ed if hint else None, hint.es if hint else None,
                         hint.source if hint else None, limits)
    dt = cine.frame_interval_ms
    report = {"subject": cine.name, "input": str(cine.source), "labels": dst.name, "n_slices": int(cine.image.shape[1]),
              "spacing_mm_zyx": [round(float(s), 4) for s in cine.spacing],
              "frame_interval_source": cine.time_source if dt is not None else "unknown",
              "seconds_per_frame": round(pred.seconds_per_frame, 3), **report}
    stem = output_stem(dst)
    csv_path = write_curve_csv(curve, f"{stem}_volumes.csv", report["ED"]["time_index"], report["ES"]["time_index"])
    png_path = plot_curve(curve, f"{stem}_volumes.png", report, title=f"{cine.name}: volume over the cardiac cycle")
    json_path = write_report_json(report, f"{stem}_clinical.json")
    return CineResult(dst, csv_path, png_path, json_path, report, cine.n_frames, int(cine.image.shape[1]), chosen,
                      pred.seconds_per_frame, seconds_read)


def summary_line(result: CineResult) -> str:
    """One line for the console: frames, speed, ED/ES and how they were found, EF of LV and RV, QC flags."""
    r = result.report

    def num(key: str, fmt: str = ".1f") -> str:
        return "n/a" if r.get(key) is None else format(r[key], fmt)

    flags = ", ".join(r["qc_flags"]) or "none"
    return (f"{r['subject']}: {len(result.frames)}/{result.n_frames} frames x {result.n_slices} slices, "
            f"{result.seconds_per_frame:.2f} s per frame (read {result.seconds_read:.1f} s); "
            f"ED frame {r['ED']['frame']}, ES frame {r['ES']['frame']} ({r['ED']['how']}); "
            f"LV EF {num('LV_EF_pct')} % (EDV {num('LV_EDV_ml')} mL, ESV {num('LV_ESV_ml')} mL), "
            f"RV EF {num('RV_EF_pct')} %, LV mass {num('LV_mass_g')} g; QC flags: {flags}")

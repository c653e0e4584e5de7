"""Clinical numbers from a whole cardiac cycle: volume-time curves, ED/ES, EF, LV mass, peak rates and QC flags.

From a cine label map ``(t, z, y, x)``: the LV and RV blood-pool and myocardial volumes of every frame (voxel
counts times the voxel volume from the header, no slice interpolation, as :mod:`cmrseg.metrics.clinical`);
end-diastole and end-systole as the frames of largest and smallest LV blood-pool volume unless a source gives
them; EDV, ESV, SV and EF of LV and RV and the LV mass at ED (:func:`cmrseg.metrics.clinical.clinical_from_volumes`,
1.05 g/mL); peak ejection and filling rates from consecutive frames (mL/s when the frame times are known, else
mL per frame); QC flags for a curve that shows no clear ED/ES, a frame whose volume jumps against both of its
neighbours, and a stack that seems to stop short of the apex or to start below the base
(:func:`coverage_qc`).

Example:
    >>> labels = np.zeros((4, 2, 10, 10), np.uint8)
    >>> for t, n in enumerate((60, 40, 30, 50)):
    ...     labels[t, 0].flat[:n] = 3
    >>> curve = volume_curve(labels, (10.0, 1.0, 1.0))                  # 1 voxel = 0.01 mL
    >>> report = cine_report(curve)
    >>> report["ED"]["time_index"], report["ES"]["time_index"], round(report["LV_EF_pct"], 1)
    (0, 2, 50.0)
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cmrseg.labels import LV, RV, STRUCTURES
from cmrseg.metrics.clinical import CLINICAL_INDICES, clinical_from_volumes, voxel_volume_ml

#: How ED/ES were found when no source gives them.
FROM_CURVE = "LV blood-pool volume curve (ED: largest, ES: smallest volume)"
RATE_KEYS: tuple[str, ...] = ("LV_peak_ejection_rate", "LV_peak_filling_rate", "RV_peak_ejection_rate",
                              "RV_peak_filling_rate")


@dataclass(frozen=True)
class CineQCLimits:
    """Thresholds of the cine QC flags.

    Attributes:
        min_amplitude: ``no_clear_ED_ES`` when (max - min) / max of the LV curve is below this (a curve this
            flat has no trustworthy ED/ES; an EF of 10 % is already severe dysfunction).
        jump: ``<S>_volume_jump`` when a frame lies outside the range of both neighbours by more than this share
            of the structure's largest volume (a smooth 20-frame curve stays under ~5 % even at ES). Cines with
            fewer frames than ``jump_frames`` get the limit scaled by ``jump_frames / frames``: ED and ES of a
            coarse cine lie far outside their neighbours without any error.
        jump_frames: the frame count the ``jump`` limit is written for.
        apex_area: ``apex_possibly_missing`` when the apical-most slice at ED still holds at least this share of
            the largest LV blood-pool cross-section. A complete stack tapers to the apex: on ACDC's 80 expert ED
            label maps that slice holds 0-42 % (median 8 %); with the last one / two / three slices removed, 14 /
            51 / 68 of them reach 50 %.
        base_area, base_length_ratio: ``base_possibly_missing`` when the basal-most slice at ED holds at least
            ``base_area`` of the largest LV cross-section *and* the stack covers the LV cavity over less than
            ``base_length_ratio`` times its widest diameter. A left ventricle is longer than wide (ACDC ED, DCM
            included: covered length / widest diameter 0.93-2.25, median 1.44), and the widest section of a
            complete stack is often at the base, so the area alone cannot tell; together they flag none of
            ACDC's ED maps and 4 / 17 / 40 of 80 with the first one / two / three slices removed (the flag is
            specific, not sensitive: a stack one slice short of a long ventricle looks complete).
        max_phase_offset: ``ED_ES_differ_from_curve`` when a given ED/ES is more than this many frames (around
            the cycle) from the curve's extreme.
    """

    min_amplitude: float = 0.10
    jump: float = 0.10
    jump_frames: int = 20
    apex_area: float = 0.50
    base_area: float = 0.90
    base_length_ratio: float = 1.0
    max_phase_offset: int = 2


@dataclass
class VolumeCurve:
    """Volumes over the cycle.

    Attributes:
        frames: 0-based time indices of the segmented frames (ascending).
        volumes: ``{"LV", "Myo", "RV"}`` -> mL per segmented frame.
        lv_slice_ml: LV blood-pool volume per slice, ``(frames, z)`` in mL (for the coverage flags); ``None``
            when only the volumes are known (:func:`curve_from_volumes`).
        n_frames: frames in the whole cine.
        times_ms: time of every cine frame after the R wave (ms), ``None`` when unknown.
        rv_slice_ml: RV blood-pool volume per slice like ``lv_slice_ml`` (tells the base from the apex).
        slice_mm: distance between slices (mm), to turn ``lv_slice_ml`` into areas and lengths.
    """

    frames: np.ndarray
    volumes: dict[str, np.ndarray]
    lv_slice_ml: np.ndarray | None
    n_frames: int
    times_ms: np.ndarray | None = None
    rv_slice_ml: np.ndarray | None = None
    slice_mm: float | None = None

    @property
    def complete(self) -> bool:
        """Every frame of the cine is segmented (rates and jump checks need the whole cycle)."""
        return len(self.frames) == self.n_frames

    def at(self, t: int) -> dict[str, float]:
        """Volumes (mL) of time index ``t``."""
        i = int(np.flatnonzero(self.frames == t)[0])
        return {k: float(v[i]) for k, v in self.volumes.items()}


def volume_curve(labels: np.ndarray | Sequence[np.ndarray], spacing: Sequence[float],
                 frames: Sequence[int] | None = None, n_frames: int | None = None,
                 times_ms: Sequence[float] | None = None) -> VolumeCurve:
    """Per-frame structure volumes of label maps.

    Args:
        labels: ``(t, z, y, x)`` array or a sequence of ``(z, y, x)`` maps, one per entry of ``frames``.
        spacing: ``(sz, sy, sx)`` in mm.
        frames: time index of each map (default ``0..len-1``).
        n_frames: frames in the whole cine (default ``len(labels)``).
        times_ms: time of each cine frame in ms (length ``n_frames``), when known.
    """
    maps = list(labels)
    frames_arr = np.arange(len(maps)) if frames is None else np.asarray(list(frames), dtype=int)
    if len(frames_arr) != len(maps):
        raise ValueError(f"{len(maps)} label maps for {len(frames_arr)} frame indices")
    if len(frames_arr) == 0:
        raise ValueError("no frames to measure")
    order = np.argsort(frames_arr)
    unit = voxel_volume_ml(spacing)
    volumes = {name: np.zeros(len(maps)) for name in STRUCTURES.values()}
    per_slice = np.zeros((len(maps), np.asarray(maps[0]).shape[0]))
    rv_slice = np.zeros_like(per_slice)
    for row, i in enumerate(order):
        lab = np.asarray(maps[i])
        counts = np.bincount(lab.ravel().astype(np.int64), minlength=4)
        for code, name in STRUCTURES.items():
            volumes[name][row] = counts[code] * unit
        per_slice[row] = (lab == LV).reshape(lab.shape[0], -1).sum(1) * unit
        rv_slice[row] = (lab == RV).reshape(lab.shape[0], -1).sum(1) * unit
    n = len(maps) if n_frames is None else int(n_frames)
    times = None if times_ms is None else np.asarray(times_ms, dtype=float)
    if times is not None and len(times) != n:
        raise ValueError(f"{len(times)} frame times for a cine of {n} frames")
    return VolumeCurve(frames_arr[order], volumes, per_slice, n, times, rv_slice, float(spacing[0]))


def curve_from_volumes(frames: Sequence[int], volumes: dict[str, Sequence[float]], n_frames: int | None = None,
                       times_ms: Sequence[float] | None = None) -> VolumeCurve:
    """A :class:`VolumeCurve` from volumes already measured (e.g. a cohort table's rows); no coverage flags."""
    frames_arr = np.asarray(list(frames), dtype=int)
    order = np.argsort(frames_arr)
    vols = {k: np.asarray(list(volumes[k]), dtype=float)[order] for k in STRUCTURES.values()}
    n = int(frames_arr.max()) + 1 if n_frames is None else int(n_frames)
    return VolumeCurve(frames_arr[order], vols, None, n, None if times_ms is None else np.asarray(times_ms, float))


def find_ed_es(curve: VolumeCurve) -> tuple[int, int]:
    """``(ED, ES)`` time indices: the frames of largest and smallest LV blood-pool volume (first on ties)."""
    lv = curve.volumes["LV"]
    return int(curve.frames[int(np.argmax(lv))]), int(curve.frames[int(np.argmin(lv))])


def _cyclic_distance(a: int, b: int, n: int) -> int:
    d = abs(a - b) % n
    return min(d, n - d)


def _frame_interval_ms(curve: VolumeCurve) -> float | None:
    if curve.times_ms is None or curve.n_frames < 2:
        return None
    dt = float(np.median(np.diff(curve.times_ms)))
    return dt if dt > 0 else None


def peak_rates(curve: VolumeCurve, name: str, ed: int, es: int) -> tuple[float, float] | None:
    """Peak ejection and peak filling rate of structure ``name`` (positive numbers), or ``None`` when not every
    frame is segmented.

    Ejection: the steepest fall between consecutive frames from ED to ES; filling: the steepest rise from ES
    back to ED; both walk around the cycle (the frame after the last is the first). Per second when the frame
    times are known (the wrap-around step takes the median interval), else per frame.
    """
    if not curve.complete or curve.n_frames < 3:
        return None
    v, n = curve.volumes[name], curve.n_frames
    dt_med = _frame_interval_ms(curve)

    def steps(start: int, stop: int) -> list[float]:
        out, t = [], start
        while t != stop:
            nxt = (t + 1) % n
            dv = v[nxt] - v[t]
            if dt_med is None:
                out.append(dv)
            else:
                dt = curve.times_ms[nxt] - curve.times_ms[t] if nxt > t else dt_med  # type: ignore[index]
                out.append(dv / (dt / 1000.0) if dt > 0 else math.nan)
            t = nxt
        return out

    ejection, filling = steps(ed, es), steps(es, ed)
    per = max((-d for d in ejection), default=math.nan)
    pfr = max(filling, default=math.nan)
    return float(max(per, 0.0)), float(max(pfr, 0.0))


def _jumps(curve: VolumeCurve, name: str, limit: float) -> list[tuple[int, float, float, float]]:
    """Frames whose volume lies outside both neighbours' range by more than ``limit`` x the largest volume:
    ``(time index, volume, previous, next)``."""
    v, n = curve.volumes[name], len(curve.volumes[name])
    top = float(v.max())
    if n < 3 or top <= 0:
        return []
    out = []
    for i in range(n):
        prev, nxt = v[i - 1], v[(i + 1) % n]
        excess = max(v[i] - max(prev, nxt), min(prev, nxt) - v[i])
        if excess > limit * top:
            out.append((int(curve.frames[i]), float(v[i]), float(prev), float(nxt)))
    return out


def base_first(lv_slice: np.ndarray, rv_slice: np.ndarray | None = None) -> bool:
    """Whether slice 0 is the basal end of a short-axis stack: the centroid along the stack of the LV + RV blood
    pool lies in the first half (the RV spans the base and ends before the apex; the LV tapers to the apex).

    On ACDC's expert label maps (slice 0 is the base in every one) this is right for 80 / 80 ED and 79 / 80 ES
    maps; taking the end nearer the LV's largest section (as before) was right for 79 / 80 and 72 / 80.
    """
    w = np.asarray(lv_slice, dtype=float) + (0.0 if rv_slice is None else np.asarray(rv_slice, dtype=float))
    if w.sum() <= 0:
        return True
    return float((w * np.arange(len(w))).sum() / w.sum()) <= (len(w) - 1) / 2


def coverage_qc(lv_slice_ml: np.ndarray, rv_slice_ml: np.ndarray | None, slice_mm: float,
                limits: CineQCLimits = CineQCLimits()) -> tuple[list[str], list[str]]:
    """Does the stack of one frame (ED) cover the LV from base to apex? ``(flags, notes)``.

    ``apex_possibly_missing``: the apical-most slice still holds ``limits.apex_area`` of the largest LV
    cross-section (a complete stack tapers to the apex). ``base_possibly_missing``: the basal-most slice holds
    ``limits.base_area`` of it and the LV spans less of the stack than ``limits.base_length_ratio`` times its
    widest diameter. Which end is the base: :func:`base_first`. See :class:`CineQCLimits` for the thresholds' grounds.

    Args:
        lv_slice_ml, rv_slice_ml: LV (RV) blood-pool volume of every slice (mL), ``(z,)``.
        slice_mm: slice distance (mm).
    """
    lv = np.asarray(lv_slice_ml, dtype=float)
    if len(lv) < 2 or lv.max() <= 0:
        return [], []
    area_mm2 = lv * 1000.0 / slice_mm
    widest = float(area_mm2.max())
    basal, apical = (0, len(lv) - 1) if base_first(lv, rv_slice_ml) else (len(lv) - 1, 0)
    where = {0: "first", len(lv) - 1: "last"}
    flags: list[str] = []
    notes: list[str] = []
    apex_share = float(area_mm2[apical] / widest)
    if apex_share >= limits.apex_area:
        flags.append("apex_possibly_missing")
        notes.append(f"the LV blood pool still covers {100 * apex_share:.0f} % of its largest cross-section in the "
                     f"{where[apical]} slice (the apical end; a complete stack tapers to the apex, >= "
                     f"{100 * limits.apex_area:.0f} % flagged): the stack may stop short of the apex, LV volumes "
                     "may be underestimated")
    base_share = float(area_mm2[basal] / widest)
    filled = np.flatnonzero(lv > 0)
    length = float(filled[-1] - filled[0] + 1) * slice_mm
    diameter = 2.0 * math.sqrt(widest / math.pi)
    if base_share >= limits.base_area and length < limits.base_length_ratio * diameter:
        flags.append("base_possibly_missing")
        notes.append(f"the {where[basal]} slice (the basal end) holds {100 * base_share:.0f} % of the largest LV "
                     f"cross-section and the LV spans only {length:.0f} mm of the stack, {length / diameter:.2f} x its "
                     f"widest diameter ({diameter:.0f} mm; a left ventricle is longer than wide): the stack may start "
                     "below the base, volumes may be underestimated")
    return flags, notes


def cine_qc(curve: VolumeCurve, ed: int, es: int, limits: CineQCLimits = CineQCLimits()
            ) -> tuple[list[str], list[str]]:
    """QC ``(flags, notes)`` of a cine measurement; flags are short codes, notes say what and where."""
    flags: list[str] = []
    notes: list[str] = []
    lv = curve.volumes["LV"]
    top = float(lv.max())
    amplitude = (top - float(lv.min())) / top if top > 0 else 0.0
    if amplitude < limits.min_amplitude:
        flags.append("no_clear_ED_ES")
        notes.append(f"the LV volume curve varies by only {100 * amplitude:.1f} % of its largest volume "
                     f"(< {100 * limits.min_amplitude:.0f} %): no clear ED/ES, check the segmentation of every frame")
    if curve.complete:
        for name in ("LV", "RV"):
            found = _jumps(curve, name, limits.jump * max(1.0, limits.jump_frames / len(curve.frames)))
            if found:
                flags.append(f"{name}_volume_jump")
                notes.append(f"{name} volume jumps at frame(s) " + "; ".join(
                    f"{t + 1} ({v:.1f} mL, neighbours {p:.1f} / {q:.1f} mL)" for t, v, p, q in found)
                    + ": check those frames' segmentation")
    elif len(curve.frames) > 2:
        notes.append("not every frame segmented: no volume-jump check")
    if curve.lv_slice_ml is not None and curve.slice_mm is not None:
        i = int(np.flatnonzero(curve.frames == ed)[0])
        rv = None if curve.rv_slice_ml is None else curve.rv_slice_ml[i]
        cov_flags, cov_notes = coverage_qc(curve.lv_slice_ml[i], rv, curve.slice_mm, limits)
        flags += cov_flags
        notes += [f"at ED, {n}" for n in cov_notes]
    return flags, notes


def cine_report(curve: VolumeCurve, ed: int | None = None, es: int | None = None, phase_source: str | None = None,
                limits: CineQCLimits = CineQCLimits()) -> dict[str, Any]:
    """Clinical numbers of one cine: ED/ES (with how they were found), EDV/ESV/SV/EF of LV and RV, LV mass,
    peak ejection/filling rates, QC flags and notes.

    Args:
        curve: :func:`volume_curve` of the segmented frames.
        ed, es: given ED/ES time indices (0-based), e.g. from ``Info.cfg``; ``None``: found from the curve.
        phase_source: where the given ED/ES come from (reported).
        limits: QC thresholds.

    Returns:
        a JSON-ready dict: ``n_frames``, ``frames_segmented`` (1-based), ``ED``/``ES`` (``time_index``, 1-based
        ``frame``, ``time_ms``, ``how``), the keys of
        :data:`cmrseg.metrics.clinical.CLINICAL_INDICES`, :data:`RATE_KEYS` with ``rate_unit``,
        ``frame_interval_ms``, ``curve_extremes`` (the LV curve's own largest/smallest frames), ``qc_flags`` and
        ``notes``.
    """
    curve_ed, curve_es = find_ed_es(curve)
    notes: list[str] = []
    given = ed is not None and es is not None
    if ed is not None and es is not None:
        for name, t in (("ED", ed), ("ES", es)):
            if t not in curve.frames:
                raise ValueError(f"{name} frame {t} was not segmented (segmented: {curve.frames.tolist()})")
        t_ed, t_es, how = int(ed), int(es), phase_source or "given"
    else:
        t_ed, t_es, how = curve_ed, curve_es, FROM_CURVE
        if not curve.complete:
            how += f" over the {len(curve.frames)} segmented frames"
    flags, qc_notes = cine_qc(curve, t_ed, t_es, limits)
    if given and (t_ed, t_es) != (curve_ed, curve_es):
        off = max(_cyclic_distance(t_ed, curve_ed, curve.n_frames), _cyclic_distance(t_es, curve_es, curve.n_frames))
        notes.append(f"given ED/ES frames {t_ed + 1}/{t_es + 1} differ from the LV curve's largest/smallest volume "
                     f"at frames {curve_ed + 1}/{curve_es + 1} (1-based)")
        if off > limits.max_phase_offset:
            flags.append("ED_ES_differ_from_curve")
    indices = clinical_from_volumes(curve.at(t_ed), curve.at(t_es))
    if indices["notes"]:
        notes.append(str(indices["notes"]))
    dt = _frame_interval_ms(curve)
    out: dict[str, Any] = {"n_frames": curve.n_frames, "frames_segmented": [int(t) + 1 for t in curve.frames]}
    for name, t in (("ED", t_ed), ("ES", t_es)):
        out[name] = {"time_index": t, "frame": t + 1, "how": how,
                     "time_ms": None if curve.times_ms is None else round(float(curve.times_ms[t]), 1)}
    out["curve_extremes"] = {"ED_time_index": curve_ed, "ES_time_index": curve_es}
    out.update({k: _round(indices[k]) for k in CLINICAL_INDICES})
    out["frame_interval_ms"] = None if dt is None else round(dt, 2)
    out["rate_unit"] = "mL/s" if dt is not None else "mL/frame"
    for name in ("LV", "RV"):
        rates = peak_rates(curve, name, t_ed, t_es)
        out[f"{name}_peak_ejection_rate"] = None if rates is None else _round(rates[0])
        out[f"{name}_peak_filling_rate"] = None if rates is None else _round(rates[1])
    if not curve.complete:
        notes.append("peak ejection/filling rates need every frame segmented: not computed")
    elif dt is None:
        notes.append("frame interval unknown (no trigger times / time unit in the header): rates are per frame")
    out["qc_flags"] = flags
    out["notes"] = qc_notes + notes
    return out


def _round(x: float | str) -> float | None:
    x = float(x)
    return None if not math.isfinite(x) else round(x, 3)


# ----------------------------------------------------------------------------------------------- outputs

def write_curve_csv(curve: VolumeCurve, path: str | Path, ed: int | None = None, es: int | None = None) -> Path:
    """One row per segmented frame: ``frame`` (1-based), ``time_index``, ``time_ms``, ``LV_ml``, ``Myo_ml``,
    ``RV_ml``, ``phase`` (ED / ES / empty)."""
    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["frame", "time_index", "time_ms", "LV_ml", "Myo_ml", "RV_ml", "phase"])
        for i, t in enumerate(curve.frames):
            time_ms = "" if curve.times_ms is None else f"{curve.times_ms[t]:.1f}"
            phase = "ED" if t == ed else "ES" if t == es else ""
            w.writerow([int(t) + 1, int(t), time_ms, *(f"{curve.volumes[k][i]:.3f}" for k in ("LV", "Myo", "RV")),
                        phase])
    return path


def plot_curve(curve: VolumeCurve, path: str | Path, report: dict[str, Any] | None = None, title: str = "") -> Path:
    """Volume-time curves (LV, RV blood pool; myocardium dashed) as a PNG, ED/ES marked, EF in the legend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    x = curve.frames + 1 if curve.times_ms is None else curve.times_ms[curve.frames]
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    styles = {"LV": ("tab:red", "-"), "RV": ("tab:blue", "-"), "Myo": ("tab:green", "--")}
    for name, (color, ls) in styles.items():
        label = {"LV": "LV blood pool", "RV": "RV blood pool", "Myo": "LV myocardium"}[name]
        if report is not None and name != "Myo" and report.get(f"{name}_EF_pct") is not None:
            label += f" (EF {report[f'{name}_EF_pct']:.0f} %)"
        ax.plot(x, curve.volumes[name], ls, color=color, marker="o", ms=3, label=label)
    if report is not None:
        for phase, color in (("ED", "0.3"), ("ES", "0.6")):
            t = report[phase]["time_index"]
            xt = t + 1 if curve.times_ms is None else curve.times_ms[t]
            ax.axvline(xt, color=color, ls=":", lw=1)
            ax.text(xt, ax.get_ylim()[1], f" {phase}", va="top", ha="left", fontsize=8, color=color)
    ax.set_xlabel("frame (1-based)" if curve.times_ms is None else "time after R wave (ms)")
    ax.set_ylabel("volume (mL)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def write_report_json(report: dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    path.write_text(json.dumps(report, indent=1), encoding="utf-8")
    return path

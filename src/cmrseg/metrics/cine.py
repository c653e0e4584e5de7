"""Clinical numbers from a whole cardiac cycle: volume-time curves, ED/ES, EF, LV mass, peak rates and QC flags.

From a cine label map ``(t, z, y, x)``: the LV and RV blood-pool and myocardial volumes of every frame (voxel
counts times the voxel volume from the header, no slice interpolation, as :mod:`cmrseg.metrics.clinical`);
end-diastole and end-systole as the frames of largest and smallest LV blood-pool volume unless a source gives
them; EDV, ESV, SV and EF of LV and RV and the LV mass at ED (:func:`cmrseg.metrics.clinical.clinical_from_volumes`,
1.05 g/mL); peak ejection and filling rates from consecutive frames (mL/s when the frame times are known, else
mL per frame); QC flags for a curve that shows no clear ED/ES, a frame whose volume jumps against both of its
neighbours, and an LV that reaches the first or last slice (the stack may miss the base or apex).

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

from cmrseg.labels import LV, STRUCTURES
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
            of the structure's largest volume (a smooth 20-frame curve stays under ~5 % even at ES).
        edge_area: ``LV_in_first_slice`` / ``LV_in_last_slice`` when the LV blood pool at ED covers at least
            this share of its largest slice area in that edge slice. A coverage notice, not a segmentation error:
            on ACDC's 80 expert ED label maps the LV covers >= 10 % of its largest slice in the first (basal)
            slice in 77 and in the last (apical) slice in 32 (stacks there start at the base).
        max_phase_offset: ``ED_ES_differ_from_curve`` when a given ED/ES is more than this many frames (around
            the cycle) from the curve's extreme.
    """

    min_amplitude: float = 0.10
    jump: float = 0.10
    edge_area: float = 0.10
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
    """

    frames: np.ndarray
    volumes: dict[str, np.ndarray]
    lv_slice_ml: np.ndarray | None
    n_frames: int
    times_ms: np.ndarray | None = None

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
    for row, i in enumerate(order):
        lab = np.asarray(maps[i])
        counts = np.bincount(lab.ravel().astype(np.int64), minlength=4)
        for code, name in STRUCTURES.items():
            volumes[name][row] = counts[code] * unit
        per_slice[row] = (lab == LV).reshape(lab.shape[0], -1).sum(1) * unit
    n = len(maps) if n_frames is None else int(n_frames)
    times = None if times_ms is None else np.asarray(times_ms, dtype=float)
    if times is not None and len(times) != n:
        raise ValueError(f"{len(times)} frame times for a cine of {n} frames")
    return VolumeCurve(frames_arr[order], volumes, per_slice, n, times)


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
            found = _jumps(curve, name, limits.jump)
            if found:
                flags.append(f"{name}_volume_jump")
                notes.append(f"{name} volume jumps at frame(s) " + "; ".join(
                    f"{t + 1} ({v:.1f} mL, neighbours {p:.1f} / {q:.1f} mL)" for t, v, p, q in found)
                    + ": check those frames' segmentation")
    elif len(curve.frames) > 2:
        notes.append("not every frame segmented: no volume-jump check")
    areas = None if curve.lv_slice_ml is None else curve.lv_slice_ml[int(np.flatnonzero(curve.frames == ed)[0])]
    if areas is not None and areas.max() > 0 and len(areas) > 1:
        base_end = "first" if np.argmax(areas) <= (len(areas) - 1) / 2 else "last"  # the LV is widest near the base
        for end, k in (("first", 0), ("last", -1)):
            share = float(areas[k] / areas.max())
            if share >= limits.edge_area:
                flags.append(f"LV_in_{end}_slice")
                notes.append(f"the LV blood pool reaches the {end} slice at ED ({100 * share:.0f} % of its largest "
                             f"slice): the stack may not cover the {'base' if end == base_end else 'apex'}, "
                             "volumes may be underestimated")
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

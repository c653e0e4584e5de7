"""DICOM short-axis series -> :class:`Case`, with geometry checked and a NIfTI (RAS) affine.

Headers are read with pydicom (cheap, exact tag access) to choose the series, order the slices along the
slice normal and check the geometry; voxels are read with SimpleITK (GDCM handles compressed transfer
syntaxes and applies RescaleSlope/Intercept). The affine maps NIfTI voxel ``(i, j, k)`` = (column, row,
slice) to RAS world millimetres (DICOM LPS with x and y negated), so a prediction written with
:func:`cmrseg.io.nifti.write_nifti` overlays the series in any NIfTI viewer.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError

from cmrseg.axes import shape_text, spacing_text
from cmrseg.errors import InputError
from cmrseg.io.base import CaseRef, check_folder, finalize_refs
from cmrseg.io.case import Case
from cmrseg.io.nifti import check_image_values, voxel_limit

log = logging.getLogger(__name__)
ROWS_COLUMNS = ("rows", "columns")  # a DICOM image's axes; PixelSpacing is (row, column) spacing = (y, x)

#: Two images closer than this along the slice normal are at the same position (cine frames).
SAME_POSITION_MM = 0.01
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


@dataclass
class _Slice:
    path: Path
    position: np.ndarray  # ImagePositionPatient (LPS, mm)
    orientation: np.ndarray  # ImageOrientationPatient (6 direction cosines)
    pixel_spacing: tuple[float, float] | None  # (row spacing, column spacing) in mm
    shape: tuple[int, int]  # (Rows, Columns)
    trigger_time: float | None  # TriggerTime (ms after the R wave), None when absent
    instance: int | None  # InstanceNumber, None when absent
    ds: pydicom.Dataset


def is_dicom_file(path: Path) -> bool:
    """True when ``path`` carries the DICOM ``DICM`` magic (Part 10 file)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(128)
            return fh.read(4) == b"DICM"
    except OSError:
        return False


def has_dicom_files(folder: Path, max_checked: int = 20) -> bool:
    """Cheap check: does ``folder`` directly contain a DICOM file (first ``max_checked`` files looked at)?"""
    checked = 0
    for p in sorted(folder.iterdir()):
        if p.is_file():
            if is_dicom_file(p):
                return True
            checked += 1
            if checked >= max_checked:
                break
    return False


def _scan(folder: Path) -> dict[str, list[pydicom.Dataset]]:
    """Headers of all image files directly in ``folder``, grouped by SeriesInstanceUID."""
    series: dict[str, list[pydicom.Dataset]] = {}
    for p in sorted(folder.iterdir()):
        if not p.is_file():
            continue
        try:
            ds = pydicom.dcmread(p, stop_before_pixels=True)
        except (InvalidDicomError, OSError, EOFError, ValueError):
            continue  # not DICOM (readme, DICOMDIR parts, ...)
        if "Rows" not in ds:
            continue  # no image (DICOMDIR, structured report, ...)
        ds.filename = str(p)
        series.setdefault(str(ds.get("SeriesInstanceUID", "unknown")), []).append(ds)
    return series


def _describe(uid: str, items: list[pydicom.Dataset]) -> str:
    ds = items[0]
    return f"{ds.get('SeriesNumber', '?')} '{ds.get('SeriesDescription', '')}' ({len(items)} files, uid {uid})"


def _choose_series(folder: Path, series: dict[str, list[pydicom.Dataset]], uid: str | None) -> tuple[str, list]:
    if not series:
        raise InputError("no DICOM image files found in this folder", folder,
                         "give the folder that directly contains the .dcm files of one series")
    if uid is not None:
        if uid not in series:
            raise InputError(f"series {uid} not found; series here: "
                             + "; ".join(_describe(u, s) for u, s in series.items()), folder)
        return uid, series[uid]
    if len(series) == 1:
        return next(iter(series.items()))
    ranked = sorted(series.items(), key=lambda kv: len(kv[1]), reverse=True)
    if len(ranked[0][1]) == len(ranked[1][1]):
        raise InputError("folder holds several DICOM series of equal size, cannot tell which is the short-axis "
                         "stack: " + "; ".join(_describe(u, s) for u, s in ranked), folder,
                         "put the files of one series in a folder of their own")
    log.warning("%s: %d DICOM series; using the largest, %s", folder, len(series), _describe(*ranked[0]))
    return ranked[0]


def _slice_info(ds: pydicom.Dataset) -> _Slice:
    path = Path(ds.filename)
    if int(ds.get("NumberOfFrames", 1) or 1) > 1:
        raise InputError("enhanced (multi-frame) DICOM is not supported", path,
                         "convert the series to NIfTI (e.g. with dcm2niix) and give the .nii.gz")
    for tag, n in (("ImagePositionPatient", 3), ("ImageOrientationPatient", 6)):
        if ds.get(tag) is None or len(ds.get(tag)) != n:
            raise InputError(f"DICOM tag {tag} is missing, the slice geometry is unknown", path,
                             "export the series with its geometry tags, or convert it to NIfTI with dcm2niix")
    ps = ds.get("PixelSpacing")
    spacing = None if ps is None or len(ps) != 2 else (float(ps[0]), float(ps[1]))
    if ds.get("Columns") is None:
        raise InputError("DICOM tag Columns is missing (a truncated or damaged file)", path,
                         "re-export the series, or remove this file if it is not part of it")
    trigger, instance = ds.get("TriggerTime"), ds.get("InstanceNumber")
    return _Slice(path, np.array([float(v) for v in ds.ImagePositionPatient]),
                  np.array([float(v) for v in ds.ImageOrientationPatient]), spacing,
                  (int(ds.Rows), int(ds.Columns)), float(trigger) if trigger not in (None, "") else None,
                  int(instance) if instance not in (None, "") else None, ds)


def _check_consistent(folder: Path, slices: list[_Slice]) -> None:
    first = slices[0]
    for s in slices:
        if s.pixel_spacing is None or not all(np.isfinite(v) and v > 0 for v in s.pixel_spacing):
            raise InputError(f"PixelSpacing is missing or not positive ({s.ds.get('PixelSpacing')})", s.path,
                             "the in-plane voxel size is needed for mm measurements; fix the export")
        if not np.allclose(s.orientation, first.orientation, atol=1e-3):
            raise InputError(f"series mixes slice orientations ({first.path.name}: {first.orientation.round(3)}, "
                             f"{s.path.name}: {s.orientation.round(3)})", folder,
                             "give a folder with one short-axis stack only")
        if s.shape != first.shape or not np.allclose(s.pixel_spacing, first.pixel_spacing, rtol=1e-3):
            raise InputError(f"slices differ in size or pixel spacing ({first.path.name}: {_grid(first)}; "
                             f"{s.path.name}: {_grid(s)})", folder)


def _grid(s: _Slice) -> str:
    """``shape (rows, columns) = (256, 216), spacing (y, x) = (1.37, 1.37) mm`` of one slice."""
    return f"{shape_text(s.shape, ROWS_COLUMNS)}, {spacing_text(s.pixel_spacing, 'yx')}"


def _where(position_mm: float, s: _Slice) -> str:
    """A slice position in words: mm along the slice normal, the DICOM position and one of its files."""
    ipp = ", ".join(f"{v:.2f}" for v in s.position)
    return (f"slice position {position_mm:.2f} mm along the slice normal (ImagePositionPatient [{ipp}], "
            f"e.g. {s.path.name})")


def _group_positions(folder: Path, slices: list[_Slice], normal: np.ndarray) -> tuple[list[list[_Slice]], np.ndarray]:
    """Group images by position along ``normal`` (cine phases share a position) and order each group's phases.

    Phases are ordered by TriggerTime, then InstanceNumber (trigger times may differ between slices, so each
    position is ordered on its own). Returns the groups (ordered along the normal) and their positions in mm.

    Raises:
        InputError: a duplicate phase (the same image twice, or two images with one trigger time at one
            position), or a position with fewer / more phases than the others; each names the position, the
            files and what is wrong.
    """
    order = sorted(slices, key=lambda s: float(s.position @ normal))
    groups: list[list[_Slice]] = [[order[0]]]
    for s in order[1:]:
        if float((s.position - groups[-1][0].position) @ normal) > SAME_POSITION_MM:
            groups.append([s])
        else:
            groups[-1].append(s)
    positions = np.array([float(g[0].position @ normal) for g in groups])
    if max(len(g) for g in groups) > 1:
        _order_phases(folder, groups, positions)
    return groups, positions


def _phase_order(groups: list[list[_Slice]]) -> str:
    """``"trigger"`` (TriggerTime, then InstanceNumber) when every image has a TriggerTime that varies within a
    position, else ``"instance"`` (InstanceNumber alone; e.g. exports that write TriggerTime 0 everywhere)."""
    slices = [s for g in groups for s in g]
    if all(s.trigger_time is not None for s in slices) and all(
            len({s.trigger_time for s in g}) > 1 for g in groups if len(g) > 1):
        return "trigger"
    missing = next((s for s in slices if s.instance is None), None)
    if missing is not None:
        raise InputError("cine phases cannot be ordered: this file has no InstanceNumber, and TriggerTime is missing "
                         "or the same for every phase", missing.path,
                         "export the series with its TriggerTime (0018,1060) and InstanceNumber (0020,0013) tags")
    return "instance"


def _order_phases(folder: Path, groups: list[list[_Slice]], positions: np.ndarray) -> None:
    """Sort every position's images into phase order in place; raise on a duplicate or a missing phase."""
    by_trigger = _phase_order(groups) == "trigger"
    if not by_trigger:
        log.warning("%s: cine phases ordered by InstanceNumber (TriggerTime missing or constant)", folder)
    for g, pos in zip(groups, positions):
        g.sort(key=lambda s: (s.trigger_time, s.instance or 0) if by_trigger else (s.instance,))
        for a, b in zip(g, g[1:]):
            uid = str(a.ds.get("SOPInstanceUID", ""))
            if uid and uid == str(b.ds.get("SOPInstanceUID", "")):
                what = f"the same image twice (SOPInstanceUID {uid})"
            elif by_trigger and abs(a.trigger_time - b.trigger_time) < 1e-3:  # type: ignore[operator]
                what = f"two images of one phase (both have TriggerTime {a.trigger_time:g} ms)"
            elif not by_trigger and a.instance == b.instance:
                what = f"two images of one phase (both have InstanceNumber {a.instance})"
            else:
                continue
            raise InputError(f"duplicate phase at {_where(pos, a)}: {a.path.name} and {b.path.name} are {what}",
                             folder, f"remove the duplicate ({a.path.name} or {b.path.name}) from the folder, or "
                             "re-export the series")
    counts = Counter(len(g) for g in groups)
    n = max(counts, key=lambda c: (counts[c], c))  # most positions have this many phases
    for g, pos in zip(groups, positions):
        if len(g) == n:
            continue
        full = next(h for h in groups if len(h) == n)
        others = f"{counts[n]} of the {len(groups)} slice positions have {n} phases"
        if len(g) > n:
            raise InputError(f"extra phase(s) at {_where(pos, g[0])}: it has {len(g)} images, while {others}",
                             folder, "remove the images that do not belong to this cine (another acquisition?) "
                             "or re-export the series")
        detail = _missing_phases(g, full) if by_trigger else ""
        raise InputError(f"phase(s) missing at {_where(pos, g[0])}: it has {len(g)} images, while {others}"
                         f"{detail}", folder, "re-export the complete series (every slice at every phase)")


def _missing_phases(g: list[_Slice], full: list[_Slice]) -> str:
    """Which phases of a complete position ``full`` have no image of about the same trigger time in ``g``."""
    ref = np.array([s.trigger_time for s in full], dtype=float)
    have = np.array([s.trigger_time for s in g], dtype=float)
    dt = float(np.median(np.diff(ref))) if len(ref) > 1 else 0.0
    if not dt > 0:
        return ""
    lost = [k for k, t in enumerate(ref) if not np.any(np.abs(have - t) < dt / 2)]
    if not lost or len(lost) != len(ref) - len(g):
        return f" (its trigger times: {', '.join(f'{t:g}' for t in have)} ms)"
    names = ", ".join(f"phase {k + 1} of {len(ref)} (trigger time about {ref[k]:g} ms, {full[k].path.name} at "
                      "a complete position)" for k in lost)
    return f"; missing: {names}"


def _slice_step(folder: Path, positions: np.ndarray, ds: pydicom.Dataset) -> float:
    """Uniform slice spacing in mm; raises naming the gap when a slice is missing."""
    if len(positions) == 1:
        step = float(ds.get("SpacingBetweenSlices", 0) or ds.get("SliceThickness", 0) or 0)
        if not step > 0:
            raise InputError("single-slice series without SliceThickness: slice spacing unknown", folder)
        return step
    gaps = np.diff(positions)
    step = float(np.median(gaps))
    bad = np.flatnonzero(np.abs(gaps - step) > max(0.1, 0.05 * step))
    if bad.size:
        detail = "; ".join(f"{gaps[i]:.2f} mm between positions {positions[i]:.2f} and {positions[i + 1]:.2f} mm"
                           for i in bad[:5])
        raise InputError(f"slice positions are not evenly spaced (missing slice?): expected {step:.2f} mm steps, "
                         f"found {detail} (positions along the slice normal: "
                         f"{', '.join(f'{p:.2f}' for p in positions)})", folder,
                         "re-export the complete series (all slice locations)")
    return step


def dicom_affine(orientation: np.ndarray, first_position: np.ndarray,
                 spacing_zyx: tuple[float, float, float]) -> np.ndarray:
    """NIfTI (RAS) affine for voxel ``(i, j, k)`` = (column, row, slice) of a DICOM stack.

    ``orientation`` is ImageOrientationPatient (row direction, column direction), ``first_position`` the
    ImagePositionPatient of slice ``k = 0``; slices are assumed ordered along ``row x column``.
    """
    row_dir, col_dir = orientation[:3], orientation[3:]
    normal = np.cross(row_dir, col_dir)
    sz, sy, sx = spacing_zyx
    lps = np.eye(4)
    lps[:3, 0] = row_dir * sx
    lps[:3, 1] = col_dir * sy
    lps[:3, 2] = normal * sz
    lps[:3, 3] = first_position
    return LPS_TO_RAS @ lps


@dataclass
class SeriesLayout:
    """One DICOM series, headers only: images grouped by slice position and ordered by phase.

    Attributes:
        folder: the series folder.
        uid: SeriesInstanceUID.
        groups: per slice position (ordered along the slice normal) its images in phase order.
        positions: slice positions along the normal (mm).
        step: slice spacing (mm).
    """

    folder: Path
    uid: str
    groups: list[list[_Slice]]
    positions: np.ndarray
    step: float

    @property
    def n_frames(self) -> int:
        return len(self.groups[0])

    @property
    def n_slices(self) -> int:
        return len(self.groups)

    @property
    def spacing(self) -> tuple[float, float, float]:
        """``(sz, sy, sx)`` in mm: slice step, row spacing, column spacing."""
        row_sp, col_sp = self.groups[0][0].pixel_spacing  # type: ignore[misc]
        return (self.step, row_sp, col_sp)

    @property
    def affine(self) -> np.ndarray:
        first = self.groups[0][0]
        return dicom_affine(first.orientation, first.position, self.spacing)

    def trigger_times(self) -> np.ndarray | None:
        """TriggerTime (ms) of every image as ``(slices, frames)``, or ``None`` when any is missing."""
        times = [[s.trigger_time for s in g] for g in self.groups]
        if any(t is None for row in times for t in row):
            return None
        return np.array(times, dtype=float)

    def meta(self) -> dict:
        """Facts about the series for :attr:`Case.meta` (description, frame count, slice thickness, ...)."""
        ds = self.groups[0][0].ds
        nominal = ds.get("NominalInterval")
        return {"series_uid": self.uid, "series_description": str(ds.get("SeriesDescription", "")),
                "n_frames": self.n_frames, "slice_thickness": float(ds.get("SliceThickness") or 0) or None,
                "manufacturer": str(ds.get("Manufacturer", "")) or None,
                "rr_interval_ms": float(nominal) if nominal not in (None, "") and float(nominal) > 0 else None}


def scan_series(folder: str | Path, series_uid: str | None = None) -> SeriesLayout:
    """Read the headers of one DICOM series and check its geometry; no pixel data is decoded.

    Raises:
        InputError: no/ambiguous series, missing geometry tags, zero PixelSpacing, missing slices, mixed
            orientations, duplicate or missing cine phases.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError("expected a folder holding a DICOM series", folder)
    with warnings.catch_warnings():  # pydicom warns on every access to a non-conformant value (e.g. a UID of
        warnings.simplefilter("ignore", UserWarning)  # over-long components): harmless for reading, noisy
        uid, headers = _choose_series(folder, _scan(folder), series_uid)
        slices = [_slice_info(ds) for ds in headers]
        _check_consistent(folder, slices)
        orientation = slices[0].orientation
        groups, positions = _group_positions(folder, slices, np.cross(orientation[:3], orientation[3:]))
        return SeriesLayout(folder, uid, groups, positions, _slice_step(folder, positions, slices[0].ds))


_LAYOUT_CACHE: dict[tuple, SeriesLayout] = {}
_LAYOUT_CACHE_SIZE = 4


def _cached_scan(folder: Path, series_uid: str | None) -> SeriesLayout:
    """:func:`scan_series`, remembered for the last few folders while their files are unchanged (name, size,
    modification time): reading a cine frame by frame (a cohort) parses the headers once, not once per frame."""
    try:
        stamp = tuple((e.name, e.stat().st_size, e.stat().st_mtime_ns) for e in sorted(os.scandir(folder),
                                                                                     key=lambda e: e.name)
                      if e.is_file())
    except OSError:
        return scan_series(folder, series_uid)
    key = (str(folder.resolve()), series_uid, stamp)
    if key not in _LAYOUT_CACHE:
        layout = scan_series(folder, series_uid)
        while len(_LAYOUT_CACHE) >= _LAYOUT_CACHE_SIZE:
            _LAYOUT_CACHE.pop(next(iter(_LAYOUT_CACHE)))
        _LAYOUT_CACHE[key] = layout
    return _LAYOUT_CACHE[key]


def _decode(layout: SeriesLayout, t: int) -> np.ndarray:
    """Pixels ``(z, y, x)`` float32 of phase ``t`` (rescale slope/intercept applied by SimpleITK/GDCM).

    Files are decoded one by one: the geometry was checked from the headers already, and ITK's series reader
    would print a warning for every sub-micrometre unevenness of the slice positions.
    """
    import SimpleITK as sitk  # pixel decoding only: listing and header checks need pydicom alone

    planes = []
    for g in layout.groups:
        try:
            plane = sitk.GetArrayFromImage(sitk.ReadImage(str(g[t].path))).astype(np.float32)
        except RuntimeError as exc:
            raise InputError(f"cannot decode the DICOM pixel data ({str(exc).strip().splitlines()[-1]})", g[t].path,
                             "re-export the file, or convert the series to NIfTI (e.g. with dcm2niix)") from exc
        if plane.ndim == 3 and plane.shape[0] == 1:
            plane = plane[0]
        if plane.shape != g[t].shape:
            raise InputError(f"decoded image has {shape_text(plane.shape, ROWS_COLUMNS)}, the header says (Rows, "
                             f"Columns) = {g[t].shape}",
                             g[t].path, "re-export the file (it may be truncated)")
        planes.append(plane)
    return np.stack(planes)


def _check_voxels(layout: SeriesLayout, n_frames: int) -> None:
    rows, cols = layout.groups[0][0].shape
    n_voxels, limit = n_frames * layout.n_slices * rows * cols, voxel_limit()
    if n_voxels > limit:  # refused before SimpleITK allocates anything
        raise InputError(f"the headers claim {n_frames} frame(s) of {layout.n_slices} slices of {rows} x {cols} "
                         f"(rows x columns) = {n_voxels:,} voxels, more than the limit of {limit:,}", layout.folder,
                         "check the series; crop a genuinely larger one, or raise CMRSEG_MAX_VOXELS")


def read_dicom_series(folder: str | Path, time_index: int | None = None, series_uid: str | None = None) -> Case:
    """Read one short-axis DICOM series (a folder of 2D files), or one frame of a cine series, into a :class:`Case`.

    Args:
        folder: folder directly containing the series files.
        time_index: 0-based frame of a cine series (phases ordered by TriggerTime, then InstanceNumber);
            required when the series is a cine (:func:`read_dicom_frames` reads every frame).
        series_uid: SeriesInstanceUID to read when the folder holds several series; by default the
            series with the most files is used (an error when that is ambiguous).

    Raises:
        InputError: no/ambiguous series, missing geometry tags, zero PixelSpacing, missing slices, mixed
            orientations, duplicate or missing phases, a cine without ``time_index``, more voxels than
            :func:`cmrseg.io.nifti.voxel_limit`, or a constant / NaN image.
    """
    folder = Path(folder)
    layout = _cached_scan(folder, series_uid) if time_index is not None else scan_series(folder, series_uid)
    n_frames = layout.n_frames
    if n_frames > 1 and time_index is None:
        raise InputError(f"series is a cine with {n_frames} frames at each of {layout.n_slices} slice positions",
                         folder, f"give a frame (time_index 0..{n_frames - 1}), or read every frame with "
                         "cmrseg.io.read_cine (cmrseg predict segments every frame of a cine)")
    t = 0 if time_index is None else int(time_index)
    if not 0 <= t < n_frames:
        raise InputError(f"time index {t} outside 0..{n_frames - 1}", folder)
    _check_voxels(layout, 1)
    image = _decode(layout, t)
    check_image_values(image, folder)
    meta = {**layout.meta(), "time_index": time_index}
    return Case(image=image, spacing=layout.spacing, affine=layout.affine, case_id=folder.name, patient=folder.name,
                frame=None if time_index is None else t + 1, dataset="dicom", sequence="unknown", source=folder,
                meta=meta)


def read_dicom_frames(folder: str | Path, series_uid: str | None = None,
                      layout: SeriesLayout | None = None) -> tuple[np.ndarray, SeriesLayout]:
    """Every frame of a (cine) DICOM series: ``(array[t, z, y, x] float32, its SeriesLayout)``.

    A series with one image per position gives one frame. ``layout``: a :func:`scan_series` result already made
    (headers are then not read again).

    Raises:
        InputError: as :func:`read_dicom_series`.
    """
    folder = Path(folder)
    layout = layout or scan_series(folder, series_uid)
    _check_voxels(layout, layout.n_frames)
    image = np.stack([_decode(layout, t) for t in range(layout.n_frames)])
    check_image_values(image, folder, "cine")
    return image, layout


def _series_folders(root: Path) -> list[Path]:
    folders = [root] + sorted(p for p in root.iterdir() if p.is_dir())
    return [f for f in folders if has_dicom_files(f)]


def looks_like_dicom(root: Path) -> bool:
    """DICOM files in the folder itself or in its direct subfolders (one series per folder)."""
    return bool(_series_folders(Path(root)))


def list_dicom(root: Path) -> list[CaseRef]:
    """One unlabelled :class:`CaseRef` per folder holding DICOM files (``root`` and its direct subfolders).

    Nothing is decoded here; geometry problems surface when a ref is loaded.
    """
    root = Path(root)
    check_folder(root)
    refs = [CaseRef(case_id=f.name, patient=f.name, image_path=f, dataset="dicom") for f in _series_folders(root)]
    return finalize_refs(refs, root)

"""DICOM short-axis series -> :class:`Case`, with geometry checked and a NIfTI (RAS) affine.

Headers are read with pydicom (cheap, exact tag access) to choose the series, order the slices along the
slice normal and check the geometry; voxels are read with SimpleITK (GDCM handles compressed transfer
syntaxes and applies RescaleSlope/Intercept). The affine maps NIfTI voxel ``(i, j, k)`` = (column, row,
slice) to RAS world millimetres (DICOM LPS with x and y negated), so a prediction written with
:func:`cmrseg.io.nifti.write_nifti` overlays the series in any NIfTI viewer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError

from cmrseg.data.case import Case
from cmrseg.errors import InputError
from cmrseg.io.base import CaseRef, check_folder, finalize_refs
from cmrseg.io.nifti import check_image_values, voxel_limit

log = logging.getLogger(__name__)

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
    trigger_time: float
    instance: int
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
    trigger = ds.get("TriggerTime")
    return _Slice(path, np.array([float(v) for v in ds.ImagePositionPatient]),
                  np.array([float(v) for v in ds.ImageOrientationPatient]), spacing,
                  (int(ds.Rows), int(ds.Columns)), float(trigger) if trigger not in (None, "") else 0.0,
                  int(ds.get("InstanceNumber", 0) or 0), ds)


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
            raise InputError(f"slices differ in size or pixel spacing ({first.path.name}: {first.shape} "
                             f"{first.pixel_spacing}, {s.path.name}: {s.shape} {s.pixel_spacing})", folder)


def _group_positions(folder: Path, slices: list[_Slice], normal: np.ndarray) -> tuple[list[list[_Slice]], np.ndarray]:
    """Group images by position along ``normal`` (cine frames share a position); returns groups and positions."""
    order = sorted(slices, key=lambda s: float(s.position @ normal))
    groups: list[list[_Slice]] = [[order[0]]]
    for s in order[1:]:
        if float((s.position - groups[-1][0].position) @ normal) > SAME_POSITION_MM:
            groups.append([s])
        else:
            groups[-1].append(s)
    counts = {len(g) for g in groups}
    if len(counts) > 1:
        detail = ", ".join(f"{float(g[0].position @ normal):.2f} mm: {len(g)}" for g in groups)
        raise InputError(f"slice positions hold different numbers of images ({detail}), frames are missing", folder,
                         "re-export the complete series")
    for g in groups:
        g.sort(key=lambda s: (s.trigger_time, s.instance))
    return groups, np.array([float(g[0].position @ normal) for g in groups])


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


def read_dicom_series(folder: str | Path, time_index: int | None = None, series_uid: str | None = None) -> Case:
    """Read one short-axis DICOM series (a folder of 2D files) into a :class:`Case`.

    Args:
        folder: folder directly containing the series files.
        time_index: 0-based frame for a cine series (several images per slice position, ordered by
            TriggerTime); required when the series is a cine.
        series_uid: SeriesInstanceUID to read when the folder holds several series; by default the
            series with the most files is used (an error when that is ambiguous).

    Raises:
        InputError: no/ambiguous series, missing geometry tags, zero PixelSpacing, missing slices, mixed
            orientations, a cine without ``time_index``, more voxels than
            :func:`cmrseg.io.nifti.voxel_limit`, or a constant / NaN image.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError("expected a folder holding a DICOM series", folder)
    uid, headers = _choose_series(folder, _scan(folder), series_uid)
    slices = [_slice_info(ds) for ds in headers]
    _check_consistent(folder, slices)
    orientation = slices[0].orientation
    normal = np.cross(orientation[:3], orientation[3:])
    groups, positions = _group_positions(folder, slices, normal)
    n_frames = len(groups[0])
    if n_frames > 1 and time_index is None:
        raise InputError(f"series is a cine with {n_frames} frames at each of {len(groups)} slice positions",
                         folder, f"give a frame (time_index 0..{n_frames - 1})")
    t = 0 if time_index is None else int(time_index)
    if not 0 <= t < n_frames:
        raise InputError(f"time index {t} outside 0..{n_frames - 1}", folder)
    step = _slice_step(folder, positions, slices[0].ds)
    chosen = [g[t] for g in groups]
    n_voxels, limit = len(chosen) * slices[0].shape[0] * slices[0].shape[1], voxel_limit()
    if n_voxels > limit:  # refused before SimpleITK allocates anything
        raise InputError(f"the headers claim {len(chosen)} slices of {slices[0].shape} = {n_voxels:,} voxels, more "
                         f"than the limit of {limit:,}", folder,
                         "check the series; crop a genuinely larger one, or raise CMRSEG_MAX_VOXELS")
    import SimpleITK as sitk  # pixel decoding only: listing and header checks need pydicom alone

    reader = sitk.ImageSeriesReader()
    reader.SetFileNames([str(s.path) for s in chosen])
    try:
        image = sitk.GetArrayFromImage(reader.Execute()).astype(np.float32)
        if image.ndim == 2:
            image = image[None]
    except RuntimeError as exc:
        raise InputError(f"cannot decode the DICOM pixel data ({exc})", folder,
                         "convert the series to NIfTI (e.g. with dcm2niix)") from exc
    check_image_values(image, folder)
    row_sp, col_sp = slices[0].pixel_spacing  # type: ignore[misc]
    spacing = (step, row_sp, col_sp)
    ds = slices[0].ds
    meta = {"series_uid": uid, "series_description": str(ds.get("SeriesDescription", "")),
            "n_frames": n_frames, "time_index": time_index,
            "slice_thickness": float(ds.get("SliceThickness") or 0) or None}
    return Case(image=image, spacing=spacing, affine=dicom_affine(orientation, chosen[0].position, spacing),
                case_id=folder.name, patient=folder.name, frame=None if time_index is None else t + 1,
                dataset="dicom", sequence="unknown", source=folder, meta=meta)


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

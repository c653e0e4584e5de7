"""Cine input: the whole cardiac cycle, as a 4D NIfTI or a multi-phase DICOM series, read once into a :class:`Cine`.

Layouts read (all ``(x, y, z, t)`` on disk, ``(t, z, y, x)`` in memory):

* ACDC ``patientXXX_4d.nii.gz`` (ED/ES frame numbers from ``Info.cfg`` beside it),
* M&Ms ``<code>_sa.nii.gz`` (ED/ES time indices from the dataset CSV with an ``External code`` column, found in
  the file's folder or up to four folders above it),
* UK Biobank ``<eid>/sa.nii.gz`` (the subject is the folder name; no ED/ES given),
* any other 4D NIfTI, and a DICOM folder holding one cine series (phases ordered by TriggerTime then
  InstanceNumber per slice position, see :mod:`cmrseg.io.dicom`).

The frame interval comes from the DICOM trigger times, or from a NIfTI header whose pixdim[4] has a time unit;
otherwise it is unknown (rates are then per frame) unless the caller gives it. ED/ES given by a sidecar or a CSV
travel with the cine as a :class:`PhaseHint` naming its source.

Example:
    >>> cine = read_cine("../shared/data/sunnybrook_cine/SCD0000501")       # doctest: +SKIP
    >>> cine.n_frames, cine.image.shape[1], cine.frame_interval_ms           # doctest: +SKIP
    (20, 11, 34.0)
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np

from cmrseg.axes import FILE_XYZT, TZYX, shape_text
from cmrseg.errors import InputError
from cmrseg.io.case import Case
from cmrseg.io.nifti import (check_image_values, is_nifti, load_nifti_image, spacing_from_header, strip_nifti_suffix,
                             write_nifti)

#: NIfTI time units (``xyzt_units``) -> milliseconds per unit.
_TIME_UNIT_MS = {"sec": 1000.0, "msec": 1.0, "usec": 0.001}
#: File-name suffixes of cine layouts, dropped to name the subject (``patient001_4d`` -> ``patient001``).
_CINE_SUFFIXES = ("_4d", "_sa")
#: UK Biobank names every subject's short-axis cine ``sa.nii.gz``: the subject is the folder.
_GENERIC_STEMS = ("sa", "cine", "4d", "image")
_ID_COLUMNS = ("patient", "subject", "case", "case_id", "name", "eid", "External code")


@dataclass(frozen=True)
class PhaseHint:
    """End-diastole and end-systole frames given by a source other than the images.

    Attributes:
        ed, es: 0-based time indices.
        source: where they come from, in words (e.g. ``"Info.cfg (ED: 1, ES: 12; 1-based)"``).
    """

    ed: int
    es: int
    source: str


@dataclass
class Cine:
    """A whole cine: ``image[t, z, y, x]`` on one grid, with its geometry, timing and given ED/ES.

    Attributes:
        image: float32 ``(t, z, y, x)``.
        spacing: ``(sz, sy, sx)`` in mm.
        affine: voxel ``(i, j, k)`` -> world (mm) of the source (NIfTI header, or RAS from the DICOM geometry).
        name: subject id (``patient001``, an M&Ms code, a UK Biobank eid, a DICOM folder name).
        source: the file or folder read.
        dataset: ``"nifti"`` or ``"dicom"``.
        header: the NIfTI header of the source (qform/sform codes, units), ``None`` for DICOM.
        frame_times_ms: time of each frame after the R wave in ms, ``None`` when unknown.
        time_source: how ``frame_times_ms`` was found (``""`` when unknown).
        phases: ED/ES given by a sidecar or CSV, else ``None`` (found from the volume curve later).
        meta: extra facts (DICOM series description, manufacturer, RR interval, ...).
    """

    image: np.ndarray
    spacing: tuple[float, float, float]
    affine: np.ndarray
    name: str
    source: Path
    dataset: str = "nifti"
    header: nib.Nifti1Header | None = None
    frame_times_ms: np.ndarray | None = None
    time_source: str = ""
    phases: PhaseHint | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.image.ndim != 4:
            raise InputError(f"a cine is a 4D array (t, z, y, x); got {shape_text(self.image.shape, TZYX)}",
                             self.source)
        if self.frame_times_ms is not None and len(self.frame_times_ms) != self.n_frames:
            raise InputError(f"{len(self.frame_times_ms)} frame times for {self.n_frames} frames", self.source)

    @property
    def n_frames(self) -> int:
        return int(self.image.shape[0])

    @property
    def frame_interval_ms(self) -> float | None:
        """Median time between consecutive frames in ms, or ``None`` when unknown."""
        if self.frame_times_ms is None or self.n_frames < 2:
            return None
        dt = float(np.median(np.diff(self.frame_times_ms)))
        return dt if dt > 0 else None

    def frame(self, t: int) -> Case:
        """Frame ``t`` (0-based) as a 3D :class:`Case` (case id ``<name>_frameNN``, 1-based ``NN``)."""
        if not 0 <= t < self.n_frames:
            raise InputError(f"frame (time index) {t} is outside 0..{self.n_frames - 1}", self.source)
        return Case(image=self.image[t], spacing=self.spacing, affine=self.affine,
                    case_id=f"{self.name}_frame{t + 1:02d}", patient=self.name, frame=t + 1, dataset=self.dataset,
                    source=self.source, meta={"time_index": t})

    def write_labels(self, labels: np.ndarray, path: str | Path) -> Path:
        """Write a ``(t, z, y, x)`` label map on this cine's grid and header (affine, qform/sform codes, frame
        interval kept; DICOM input: scanner coordinates, codes 1)."""
        labels = np.asarray(labels)
        if labels.shape != self.image.shape:
            raise ValueError(f"label {shape_text(labels.shape, TZYX)} is not the cine's "
                             f"{shape_text(self.image.shape, TZYX)}")
        if self.header is not None:
            return write_nifti(labels, self.affine, path, header=self.header)
        return write_nifti(labels, self.affine, path, codes=(1, 1), frame_ms=self.frame_interval_ms)


def subject_name(path: str | Path) -> str:
    """Subject id of an input: ``patient001_4d.nii.gz`` -> ``patient001``, ``A1B2C3_sa.nii.gz`` -> ``A1B2C3``,
    ``1234567/sa.nii.gz`` -> ``1234567``, a DICOM folder -> its name."""
    path = Path(path)
    if not is_nifti(path):
        return path.name
    stem = strip_nifti_suffix(path.name)
    if stem.lower() in _GENERIC_STEMS and path.parent.name:
        return path.parent.name
    for suffix in _CINE_SUFFIXES:
        if stem.endswith(suffix) and len(stem) > len(suffix):
            return stem[: -len(suffix)]
    return stem


def nifti_frames(path: str | Path) -> int:
    """Number of frames of a NIfTI file from its header alone (1 for 3D); 0 when the header cannot be read."""
    try:
        shape = nib.load(str(path)).shape
    except Exception:  # noqa: BLE001 - any unreadable header: the full reader gives the specific error
        return 0
    return int(shape[3]) if len(shape) == 4 else 1


def is_cine(path: str | Path) -> bool:
    """True for a 4D NIfTI with several frames or a DICOM series folder with several phases per position."""
    path = Path(path)
    if path.is_file() and is_nifti(path):
        return nifti_frames(path) > 1
    if path.is_dir():
        from cmrseg.io.dicom import has_dicom_files, scan_series

        if has_dicom_files(path):
            try:
                return scan_series(path).n_frames > 1
            except InputError:
                return False
    return False


def frame_times_from_header(header: nib.Nifti1Header, n: int) -> tuple[np.ndarray | None, str]:
    """Times (ms) of ``n`` frames from a NIfTI header's pixdim[4] and how they were found, when the header gives a
    time unit (``xyzt_units``); ``(None, "")`` otherwise."""
    unit = header.get_xyzt_units()[1]
    dt = float(header["pixdim"][4])
    if unit in _TIME_UNIT_MS and np.isfinite(dt) and dt > 0:
        ms = dt * _TIME_UNIT_MS[unit]
        return np.arange(n) * ms, f"NIfTI header pixdim[4] = {dt:g} {unit}"
    return None, ""


def read_cine(path: str | Path, phases_csv: str | Path | None = None, frame_ms: float | None = None) -> Cine:
    """Read a 4D NIfTI cine or a multi-phase DICOM series folder into a :class:`Cine`.

    Args:
        path: ``.nii``/``.nii.gz`` with 4 dimensions, or a folder holding one DICOM cine series.
        phases_csv: CSV giving ED/ES per subject (see :func:`phases_from_csv`); else ``Info.cfg`` (ACDC) or the
            M&Ms CSV near the file are used when present.
        frame_ms: time between frames in ms, for inputs whose header does not give it (overrides the header).

    Raises:
        InputError: unreadable input, not 4D, bad spacing, NaN or constant voxels, DICOM series problems
            (missing / duplicate phases, missing slices, ...), or ED/ES given outside the frames.
    """
    return _read_cine(Path(path), phases_csv, frame_ms)


def _read_cine(path: Path, phases_csv: str | Path | None, frame_ms: float | None, layout=None) -> Cine:  # noqa: ANN001
    """:func:`read_cine`; ``layout``: the DICOM series' headers when already scanned."""
    if path.is_dir():
        from cmrseg.io.dicom import read_dicom_frames

        image, layout = read_dicom_frames(path, layout=layout)
        trig = layout.trigger_times()
        times, how = (None, "") if trig is None else (trig.mean(axis=0), "DICOM TriggerTime (mean over slices)")
        cine = Cine(image=image, spacing=layout.spacing, affine=layout.affine, name=subject_name(path), source=path,
                    dataset="dicom", frame_times_ms=times, time_source=how, meta=layout.meta())
    elif is_nifti(path):
        img = load_nifti_image(path)
        data = np.asanyarray(img.dataobj)
        if data.ndim != 4:
            raise InputError(f"expected a 4D cine, got {data.ndim}D data, {shape_text(data.shape, FILE_XYZT)} "
                             "in the file", path, "give a 4D cine NIfTI, or segment a 3D volume as it is")
        sx, sy, sz = spacing_from_header(img, path, 3)
        arr = np.ascontiguousarray(np.transpose(data, (3, 2, 1, 0))).astype(np.float32)
        check_image_values(arr, path, "cine")
        times, how = frame_times_from_header(img.header, arr.shape[0])
        cine = Cine(image=arr, spacing=(sz, sy, sx), affine=img.affine.copy(), name=subject_name(path), source=path,
                    header=img.header.copy(), frame_times_ms=times, time_source=how)
    else:
        raise InputError(f"unsupported file type {path.suffix!r} for a cine", path,
                         "give a 4D .nii/.nii.gz or a folder holding a DICOM cine series")
    if frame_ms is not None:
        if not (np.isfinite(frame_ms) and frame_ms > 0):
            raise InputError(f"frame interval {frame_ms} ms is not a positive number", path, "give e.g. 33.5")
        cine.frame_times_ms, cine.time_source = np.arange(cine.n_frames) * float(frame_ms), f"given ({frame_ms:g} ms)"
    cine.phases = given_phases(path, cine.name, cine.n_frames, phases_csv)
    return cine


def read_input(path: str | Path, phases_csv: str | Path | None = None,
               frame_ms: float | None = None) -> Case | Cine:
    """What ``cmrseg predict`` reads: a :class:`Cine` for a 4D NIfTI / multi-phase DICOM series, else a 3D
    :class:`Case` (:func:`cmrseg.io.read_volume`, with all its checks and messages)."""
    from cmrseg.io.dicom import has_dicom_files, scan_series
    from cmrseg.io.load import read_volume

    path = Path(path)
    if path.is_dir() and not is_nifti(path.name) and any(path.iterdir()) and has_dicom_files(path):
        layout = scan_series(path)
        if layout.n_frames > 1:
            return _read_cine(path, phases_csv, frame_ms, layout)
    elif path.is_file() and is_nifti(path) and nifti_frames(path) > 1:
        return read_cine(path, phases_csv, frame_ms)
    return read_volume(path)


# ----------------------------------------------------------------------------------------------- given ED/ES

def _checked(ed: int, es: int, n: int, source: str, where: Path) -> PhaseHint:
    for name, t in (("ED", ed), ("ES", es)):
        if not 0 <= t < n:
            raise InputError(f"{source} gives {name} time index {t}, outside the cine's frames 0..{n - 1}", where,
                             "check the ED/ES numbers (and whether they are 0-based indices or 1-based frames)")
    return PhaseHint(ed, es, source)


def _find_mnms_csv(path: Path) -> Path | None:
    from cmrseg.io.mnms import _has_code_column

    for folder in [path.parent, *list(path.parent.parents)[:4]]:
        for csv_path in sorted(folder.glob("*.csv")):
            if _has_code_column(csv_path):
                return csv_path
    return None


def given_phases(path: Path, name: str, n_frames: int, phases_csv: str | Path | None = None) -> PhaseHint | None:
    """ED/ES given for a cine: from ``phases_csv`` when given, else ACDC's ``Info.cfg`` beside a NIfTI, else the
    M&Ms CSV near an ``_sa.nii.gz``; ``None`` when nothing gives them.

    Raises:
        InputError: unreadable sources, the subject missing from a given CSV, or values outside the frames.
    """
    if phases_csv is not None:
        return phases_from_csv(phases_csv, name, n_frames)
    if path.is_file() and (path.parent / "Info.cfg").is_file():
        from cmrseg.io.acdc import read_info_cfg

        info = read_info_cfg(path.parent / "Info.cfg")
        return _checked(int(info["ED"]) - 1, int(info["ES"]) - 1, n_frames,
                        f"Info.cfg (ED: {info['ED']}, ES: {info['ES']}; 1-based frames)", path.parent / "Info.cfg")
    if path.is_file() and strip_nifti_suffix(path.name).endswith("_sa"):
        found = _find_mnms_csv(path)
        if found is not None:
            from cmrseg.io.mnms import read_info_csv

            row = read_info_csv(found).get(name)
            if row is not None:
                try:
                    ed, es = int(float(row["ED"])), int(float(row["ES"]))
                except ValueError as exc:
                    raise InputError(f"ED/ES of {name} are not numbers ({row['ED']!r}, {row['ES']!r})", found) from exc
                return _checked(ed, es, n_frames, f"{found.name} (ED {ed}, ES {es}; 0-based, M&Ms)", found)
    return None


def phases_from_csv(csv_path: str | Path, name: str, n_frames: int) -> PhaseHint:
    """ED/ES of subject ``name`` from a CSV.

    The subject is looked up in the first of the columns ``patient``, ``subject``, ``case``, ``case_id``,
    ``name``, ``eid``, ``External code``. ED/ES come from ``ed_frame``/``es_frame`` (1-based frame numbers, as
    in ACDC's ``patients.csv``), ``ed_index``/``es_index`` (0-based time indices), or ``ED``/``ES`` with an
    ``External code`` column (the M&Ms CSV, 0-based).

    Raises:
        InputError: unreadable CSV, no id or ED/ES columns (or the ambiguous ``ED``/``ES`` without
            ``External code``), the subject not in it, or values that are not frames of the cine.
    """
    csv_path = Path(csv_path)
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as fh:
            rows = [{(k or "").strip(): (v or "").strip() for k, v in row.items()} for row in csv.DictReader(fh)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"cannot read the ED/ES CSV ({type(exc).__name__}: {exc})", csv_path,
                         "give a UTF-8 CSV file") from exc
    columns = set(rows[0]) if rows else set()
    id_col = next((c for c in _ID_COLUMNS if c in columns), None)
    if {"ed_frame", "es_frame"} <= columns:
        cols, offset, what = ("ed_frame", "es_frame"), 1, "1-based frames"
    elif {"ed_index", "es_index"} <= columns:
        cols, offset, what = ("ed_index", "es_index"), 0, "0-based indices"
    elif {"ED", "ES"} <= columns and id_col == "External code":
        cols, offset, what = ("ED", "ES"), 0, "0-based, M&Ms"
    elif {"ED", "ES"} <= columns:
        raise InputError("columns ED/ES are ambiguous (0-based time indices or 1-based frame numbers?)", csv_path,
                         "name them ed_frame,es_frame (1-based frame numbers) or ed_index,es_index (0-based)")
    else:
        cols = None
    if id_col is None or cols is None:
        raise InputError(f"ED/ES CSV needs an id column ({', '.join(_ID_COLUMNS)}) and ed_frame,es_frame (1-based) "
                         f"or ed_index,es_index (0-based); it has {sorted(columns)}", csv_path,
                         "write a header such as 'patient,ed_frame,es_frame'")
    row = next((r for r in rows if r.get(id_col) == name), None)
    if row is None:
        known = ", ".join(r.get(id_col, "") for r in rows[:8]) + (", ..." if len(rows) > 8 else "")
        raise InputError(f"subject {name!r} is not in column {id_col!r} (it has {known})", csv_path,
                         "add a row for this subject, or check the name (a file's subject is its name without "
                         "_4d/_sa, or its folder for sa.nii.gz)")
    try:
        ed, es = (int(float(row[c])) - offset for c in cols)
    except ValueError as exc:
        raise InputError(f"{cols[0]}/{cols[1]} of {name} are not numbers ({row[cols[0]]!r}, {row[cols[1]]!r})",
                         csv_path) from exc
    return _checked(ed, es, n_frames, f"{csv_path.name} ({cols[0]} {row[cols[0]]}, {cols[1]} {row[cols[1]]}; {what})",
                    csv_path)

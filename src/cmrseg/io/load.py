"""Turn a :class:`CaseRef` (or one file/folder given for prediction) into a validated :class:`Case`.

All readers only *list* :class:`CaseRef`s; this module is the one place voxels are read, so every layout
gets the same checks: 3D or a chosen frame of a 4D cine, label codes remapped then validated (with the
label file named in the error), NaN/spacing checks via :class:`Case`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from cmrseg.axes import FILE_XYZT, shape_text, spacing_text
from cmrseg.errors import InputError
from cmrseg.io.base import CaseRef
from cmrseg.io.case import Case, validate_label
from cmrseg.io.dicom import has_dicom_files, is_dicom_file, read_dicom_series
from cmrseg.io.nifti import (check_image_values, is_nifti, load_nifti_image, read_nifti, spacing_from_header,
                              strip_nifti_suffix)

log = logging.getLogger(__name__)

Volume = tuple[np.ndarray, tuple[float, float, float], np.ndarray]


def read_nifti_frame(path: str | Path, time_index: int, kind: str = "image") -> Volume:
    """Frame ``time_index`` (0-based) of a 4D cine NIfTI as ``(array[z, y, x], spacing zyx, affine)``."""
    path = Path(path)
    img = load_nifti_image(path)
    data = np.asanyarray(img.dataobj)
    if data.ndim != 4:
        raise InputError(f"expected a 4D cine to take frame {time_index} from, got {data.ndim}D data, "
                         f"{shape_text(data.shape, FILE_XYZT)} in the file", path,
                         "give a 4D cine, or no frame for a 3D volume")
    if not 0 <= time_index < data.shape[3]:
        raise InputError(f"frame (time index) {time_index} is outside 0..{data.shape[3] - 1}", path,
                         "check the ED/ES frame numbers (0-based time indices)")
    sx, sy, sz = spacing_from_header(img, path, 3)
    arr = np.ascontiguousarray(np.transpose(data[..., time_index], (2, 1, 0)))
    if kind == "image":
        arr = arr.astype(np.float32)
        check_image_values(arr, path, f"image frame {time_index}")
    return arr, (sz, sy, sx), img.affine.copy()


def remap_labels(label: np.ndarray, mapping: dict[int, int], path: str | Path | None = None) -> np.ndarray:
    """Map dataset label codes to cmrseg codes (e.g. M&Ms 1 LV -> 3); unknown codes raise naming ``path``."""
    label = np.asarray(label)
    if not np.all(np.isfinite(label)):
        raise InputError("label map contains NaN/Inf", path, "re-export the label map as integers")
    if np.issubdtype(label.dtype, np.floating) and not np.all(np.equal(np.mod(label, 1), 0)):
        raise InputError("label map has non-integer values (was it resampled with linear interpolation?)",
                         path, "resample label maps with nearest-neighbour interpolation")
    keys = np.array(sorted(mapping), dtype=np.int64)
    values = np.array([mapping[k] for k in sorted(mapping)], dtype=np.uint8)
    present = np.unique(label).astype(np.int64)
    bad = [int(v) for v in present if v not in mapping]
    if bad:
        raise InputError(f"label values {bad} are not among this dataset's codes {sorted(mapping)}", path,
                         "check that this is a label map of the expected dataset")
    return values[np.searchsorted(keys, label.astype(np.int64))]


def _read_image(ref: CaseRef) -> tuple[Volume, dict]:
    path = Path(ref.image_path)
    if path.is_dir():
        case = read_dicom_series(path, ref.time_index, ref.meta.get("series_uid"))
        return (case.image, case.spacing, case.affine), case.meta
    if ref.time_index is not None:
        return read_nifti_frame(path, ref.time_index, "image"), {}
    return read_nifti(path, "image"), {}


def check_same_grid(image_affine: np.ndarray, label_affine: np.ndarray, shape_zyx: tuple[int, ...],
                    spacing_zyx: tuple[float, ...], path: str | Path | None) -> None:
    """Raise unless a label map's affine puts its voxels where the image's voxels are (same grid).

    Compares where both affines place the 8 corner voxels of the ``(z, y, x)`` grid; more than half the
    smallest voxel size apart (a flip, a shift, another orientation) means the label is misaligned.
    """
    nz, ny, nx = shape_zyx
    corners = np.array([[i, j, k, 1.0] for i in (0, nx - 1) for j in (0, ny - 1) for k in (0, nz - 1)]).T
    shift = float(np.linalg.norm(((np.asarray(label_affine) - np.asarray(image_affine)) @ corners)[:3], axis=0).max())
    tol = 0.5 * min(spacing_zyx)
    if not shift <= tol:
        raise InputError(f"label map is not on the image's voxel grid: its affine differs from the image's and moves "
                         f"voxels by up to {shift:.2f} mm (tolerance {tol:.2f} mm, half a voxel)", path,
                         "give the label map saved with this image's header, or resample it onto the image grid "
                         "with nearest-neighbour interpolation")


def _read_label(ref: CaseRef, path: Path, image: Volume, scribble: bool) -> np.ndarray:
    if ref.time_index is not None and not Path(ref.image_path).is_dir():
        label, spacing, affine = read_nifti_frame(path, ref.time_index, "label")
    else:
        label, spacing, affine = read_nifti(path, "label")
    if label.shape == image[0].shape:
        if not np.allclose(spacing, image[1], rtol=1e-2):
            log.warning("%s: label %s differs from the image's %s", path, spacing_text(spacing), spacing_text(image[1]))
        check_same_grid(image[2], affine, label.shape, image[1], path)
    if ref.label_map is not None:
        label = remap_labels(label, ref.label_map, path)
    return validate_label(label, image[0].shape, path, allow_unannotated=scribble)


def load_ref(ref: CaseRef, with_label: bool = True) -> Case:
    """Read one :class:`CaseRef` into a validated :class:`Case`.

    Args:
        ref: where the image (3D NIfTI, a frame of a 4D NIfTI, or a DICOM folder) and annotations are.
        with_label: also read the label and scribble maps (``False`` for prediction-only use).

    Raises:
        InputError: unreadable/corrupt files, bad geometry, NaN, shape mismatch or invalid label codes;
            the message names the offending file.
    """
    volume, extra = _read_image(ref)
    label = scribble = None
    if with_label and ref.label_path is not None:
        label = _read_label(ref, Path(ref.label_path), volume, scribble=False)
    if with_label and ref.scribble_path is not None:
        scribble = _read_label(ref, Path(ref.scribble_path), volume, scribble=True)
    meta = {**extra, **ref.meta, "split": ref.split}
    if ref.time_index is not None:
        meta["time_index"] = ref.time_index
    image, spacing, affine = volume
    return Case(image=image, spacing=spacing, affine=affine, case_id=ref.case_id, patient=ref.patient,
                label=label, scribble=scribble, phase=ref.phase, frame=ref.frame, dataset=ref.dataset,
                sequence=ref.sequence, source=Path(ref.image_path), meta=meta)


def read_volume(path: str | Path, time_index: int | None = None) -> Case:
    """Read one volume given for prediction: a 3D ``.nii``/``.nii.gz`` file or a DICOM series folder.

    Args:
        path: the file or folder.
        time_index: 0-based frame to take from a 4D cine NIfTI or a cine DICOM series.

    Raises:
        InputError: missing path, unsupported file type, a 4D cine without ``time_index``, a single DICOM
            file, a folder that is not a DICOM series, or any reading/validation problem.
    """
    path = Path(path)
    if not path.exists():
        raise InputError("file or folder does not exist", path, "check the path")
    if path.is_dir():
        if is_nifti(path.name):
            raise InputError("expected a NIfTI file, found a folder with a NIfTI name", path,
                             "give the .nii/.nii.gz file itself (or a DICOM series folder)")
        if not any(path.iterdir()):
            raise InputError("folder is empty", path, "give a NIfTI file or a folder holding a DICOM series")
        if not has_dicom_files(path):
            series = [p.name for p in sorted(path.iterdir()) if p.is_dir() and has_dicom_files(p)]
            if series:
                raise InputError(f"folder holds DICOM series in subfolders ({', '.join(series[:10])}), not one series",
                                 path, "give one series folder, or use load_dataset() to list them all")
            raise InputError("folder holds no DICOM files, so it is not a DICOM series", path,
                             "give a single .nii/.nii.gz volume, a DICOM series folder, or use load_dataset() "
                             "for a dataset folder")
        return read_dicom_series(path, time_index)
    if is_nifti(path):
        name = strip_nifti_suffix(path.name)
        if time_index is None:
            (image, spacing, affine), frame = read_nifti(path, "image"), None
        else:
            (image, spacing, affine), frame = read_nifti_frame(path, time_index, "image"), time_index + 1
            name = f"{name}_frame{frame:02d}"
        meta = {} if time_index is None else {"time_index": time_index}
        return Case(image=image, spacing=spacing, affine=affine, case_id=name, patient=name, frame=frame,
                    dataset="nifti", source=path, meta=meta)
    if is_dicom_file(path):
        raise InputError("is a single DICOM file; a whole series is needed", path,
                         "give the folder that holds all files of the short-axis series")
    raise InputError(f"unsupported file type {path.suffix!r}", path,
                     "give a .nii/.nii.gz volume or a folder holding a DICOM series")

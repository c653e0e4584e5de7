"""NIfTI reading/writing with validation; arrays come out as ``(z, y, x)`` with spacing in mm.

NIfTI stores voxels as ``(i, j, k)`` = ``(x, y, z)`` for short-axis stacks; cmrseg transposes to
``(z, y, x)`` on read and back on write, and keeps the original affine and header so a written
prediction is aligned with its input voxel for voxel.
"""

from __future__ import annotations

import gzip
import os
import tempfile
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel.openers import ImageOpener

from cmrseg.errors import InputError

NIFTI_SUFFIXES = (".nii.gz", ".nii")


def is_nifti(path: str | Path) -> bool:
    return str(path).lower().endswith(NIFTI_SUFFIXES)


def strip_nifti_suffix(name: str) -> str:
    for suffix in NIFTI_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def load_nifti_image(path: str | Path) -> nib.Nifti1Image:
    """Open a NIfTI file and read its voxels eagerly, turning every failure into an :class:`InputError`."""
    path = Path(path)
    if not path.exists():
        raise InputError("file does not exist", path, "check the path")
    if not path.is_file():
        raise InputError("expected a NIfTI file, found a folder or special file", path)
    if not os.access(path, os.R_OK):
        raise InputError("file is not readable (permission denied)", path, "check file permissions")
    if path.stat().st_size == 0:
        raise InputError("file is empty (0 bytes)", path, "re-export or re-download the file")
    try:
        img = nib.load(str(path))
        data = np.asanyarray(img.dataobj)  # force a full read so truncation is caught here
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError, ValueError, nib.filebasedimages.ImageFileError) as exc:
        raise InputError(f"cannot read NIfTI file, it is corrupt or truncated ({type(exc).__name__}: {exc})",
                         path, "re-export or re-download the file") from exc
    raw = _raw_zooms(path, img)
    if raw is not None and not all(np.isfinite(z) and z != 0 for z in raw):
        # nibabel silently replaces zero pixdim by 1 mm on load; a wrong scale would corrupt every mm measure
        raise InputError(f"voxel spacing (pixdim) in the header is zero or not finite: {raw}", path,
                         "set the correct pixdim in the header (e.g. with nibabel or SimpleITK)")
    # Keep the voxels just read in memory so callers do not decompress the file a second time.
    return img.__class__(data, img.affine, img.header)


def _raw_zooms(path: Path, img: nib.Nifti1Image) -> tuple[float, ...] | None:
    """Spatial pixdim exactly as stored in the file (before nibabel's fix-ups), or ``None`` if unavailable."""
    try:
        with ImageOpener(str(path)) as fobj:
            hdr = img.header_class.from_fileobj(fobj, check=False)
        return tuple(float(z) for z in hdr["pixdim"][1 : 1 + min(3, len(img.shape))])
    except Exception:  # other header classes or exotic files: fall back to nibabel's zooms
        return None


def spacing_from_header(img: nib.Nifti1Image, path: str | Path, ndim: int = 3) -> tuple[float, ...]:
    """Voxel sizes ``(i, j, k)`` in mm from the header; raises when missing, zero or not finite."""
    zooms = tuple(float(z) for z in img.header.get_zooms()[:ndim])
    if len(zooms) < ndim or not all(np.isfinite(z) and z > 0 for z in zooms):
        raise InputError(f"voxel spacing (pixdim) is missing or not positive: {zooms}", path,
                         "set the correct pixdim in the header (e.g. with nibabel or SimpleITK)")
    return zooms


def read_nifti(path: str | Path, kind: str = "image") -> tuple[np.ndarray, tuple[float, float, float], np.ndarray]:
    """Read a 3D NIfTI volume.

    Args:
        path: ``.nii`` or ``.nii.gz`` file.
        kind: ``"image"`` (float32 out) or ``"label"`` (values kept, float checked later by the caller).

    Returns:
        ``(array[z, y, x], spacing (sz, sy, sx) in mm, affine 4x4)``.

    Raises:
        InputError: missing, empty, corrupt, not 3D, bad spacing, or NaN/Inf in an image.
    """
    path = Path(path)
    img = load_nifti_image(path)
    data = np.asanyarray(img.dataobj)
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise InputError(
            f"expected a 3D volume, got {data.ndim}D with shape {data.shape}", path,
            "pass a single frame (for a 4D cine, use a reader that splits frames, e.g. the ACDC or M&Ms layout)"
            if data.ndim == 4 else "pass a 3D short-axis stack")
    spacing = spacing_from_header(img, path, 3)
    arr = np.transpose(data, (2, 1, 0))
    if kind == "image":
        arr = arr.astype(np.float32)
        if not np.all(np.isfinite(arr)):
            raise InputError(f"image contains {int((~np.isfinite(arr)).sum())} NaN/Inf voxels", path,
                             "repair the image (NaN/Inf are not valid intensities)")
    return np.ascontiguousarray(arr), (spacing[2], spacing[1], spacing[0]), img.affine.copy()


def read_nifti_4d(path: str | Path) -> tuple[np.ndarray, tuple[float, float, float], np.ndarray]:
    """Read a 4D cine NIfTI ``(i, j, k, t)`` as ``array[t, z, y, x]`` plus 3D spacing and affine."""
    path = Path(path)
    img = load_nifti_image(path)
    data = np.asanyarray(img.dataobj)
    if data.ndim != 4:
        raise InputError(f"expected a 4D cine (x, y, z, t), got {data.ndim}D with shape {data.shape}", path)
    spacing = spacing_from_header(img, path, 3)
    arr = np.transpose(data, (3, 2, 1, 0)).astype(np.float32)
    if not np.all(np.isfinite(arr)):
        raise InputError("cine contains NaN/Inf voxels", path, "repair the file")
    return np.ascontiguousarray(arr), (spacing[2], spacing[1], spacing[0]), img.affine.copy()


def write_nifti(array_zyx: np.ndarray, affine: np.ndarray, path: str | Path,
                header: nib.Nifti1Header | None = None) -> Path:
    """Write ``array[z, y, x]`` as NIfTI with the given affine, atomically (temp file, then rename).

    No half-written file ever exists under ``path``: readers either see the old file or the new one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.transpose(np.asarray(array_zyx), (2, 1, 0))
    hdr = header.copy() if header is not None else None
    img = nib.Nifti1Image(data, affine, header=hdr)
    img.set_data_dtype(data.dtype)
    if hdr is not None:
        img.header.set_zooms(header.get_zooms()[:3])
    suffix = ".nii.gz" if str(path).endswith(".gz") else ".nii"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{suffix}")
    os.close(fd)
    try:
        nib.save(img, tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path

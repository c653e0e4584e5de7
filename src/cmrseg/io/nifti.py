"""NIfTI reading/writing with validation; arrays come out as ``(z, y, x)`` with spacing in mm.

NIfTI stores voxels as ``(i, j, k)`` = ``(x, y, z)`` for short-axis stacks; cmrseg transposes to
``(z, y, x)`` on read and back on write, and keeps the original affine and header so a written
prediction is aligned with its input voxel for voxel.
"""

from __future__ import annotations

import gzip
import os
import struct
import tempfile
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel.openers import ImageOpener

from cmrseg.axes import FILE_XYZT, axes_values, shape_text
from cmrseg.errors import InputError

NIFTI_SUFFIXES = (".nii.gz", ".nii")

#: Largest volume read, in voxels over all dimensions (a 4D cine counts whole): 2**28 (~268 million voxels,
#: 1 GiB as float32). Cardiac volumes are far smaller (ACDC frame ~0.7 M, M&Ms 4D cine ~25 M); a header
#: claiming more is corrupt or hostile and is refused *before* any voxel is allocated. Override with the
#: environment variable ``CMRSEG_MAX_VOXELS`` for genuinely larger data.
MAX_VOXELS = 2**28
_GZIP_MAGIC = b"\x1f\x8b"
_NIFTI_HEADER_SIZES = (348, 540)  # sizeof_hdr of NIfTI-1 and NIfTI-2, the first 4 bytes of every header


def is_nifti(path: str | Path) -> bool:
    return str(path).lower().endswith(NIFTI_SUFFIXES)


def strip_nifti_suffix(name: str) -> str:
    for suffix in NIFTI_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def voxel_limit() -> int:
    """The largest number of voxels a file may hold: :data:`MAX_VOXELS` or ``$CMRSEG_MAX_VOXELS``."""
    raw = os.environ.get("CMRSEG_MAX_VOXELS", "").strip()
    if not raw:
        return MAX_VOXELS
    try:
        return int(float(raw))
    except ValueError:
        raise InputError(f"environment variable CMRSEG_MAX_VOXELS={raw!r} is not a number", None,
                         "set it to a voxel count such as 500000000, or unset it") from None


def _check_signature(path: Path) -> None:
    """Cheap first check of a ``.nii``/``.nii.gz`` file: gzip magic and the NIfTI header-size field.

    Catches text or other files named ``.nii.gz`` with a message that says what the file is instead.
    """
    with open(path, "rb") as fh:
        head = fh.read(16)
    if path.name.lower().endswith(".gz"):
        if head[:2] != _GZIP_MAGIC:
            looks = "it looks like a text file" if _is_text(head) else f"it starts with {head[:8]!r}"
            raise InputError(f"file is named .nii.gz but is not gzip-compressed ({looks})", path,
                             "if it is an uncompressed NIfTI, rename it to .nii; otherwise re-export the volume")
        try:
            with gzip.open(path, "rb") as fh:
                head = fh.read(16)
        except (EOFError, OSError, zlib.error) as exc:
            raise InputError(f"cannot decompress the file, it is corrupt or truncated ({type(exc).__name__}: "
                             f"{exc})", path, "re-export or re-download the file") from exc
    sizes = {struct.unpack("<i", head[:4])[0], struct.unpack(">i", head[:4])[0]} if len(head) >= 4 else set()
    if not sizes & set(_NIFTI_HEADER_SIZES):
        looks = "it looks like a text file" if _is_text(head) else f"it starts with {head[:8]!r}"
        raise InputError(f"not a NIfTI file: the header does not start with the NIfTI header size 348/540 ({looks})",
                         path, "give a NIfTI-1/2 volume (.nii or .nii.gz); convert other formats with e.g. "
                         "SimpleITK or dcm2niix")


def _is_text(head: bytes) -> bool:
    return bool(head) and all(32 <= b < 127 or b in (9, 10, 13) for b in head)


def _check_size(path: Path, shape: tuple[int, ...]) -> None:
    """Refuse a header that claims an empty or an absurdly large array, before anything is allocated."""
    n = 1
    for d in shape:
        n *= int(d)  # Python ints: no overflow for hostile headers
    if n == 0:
        raise InputError(f"the header describes an empty array ({shape_text(shape, FILE_XYZT)})", path,
                         "re-export the volume; every dimension must be at least 1")
    limit = voxel_limit()
    if n > limit:
        raise InputError(f"the header claims {shape_text(shape, FILE_XYZT)}: {n:,} voxels, more than the limit of "
                         f"{limit:,} "
                         "(corrupt header, or not a cardiac volume)", path,
                         "check the file; crop a genuinely larger volume, or raise the limit with the "
                         "environment variable CMRSEG_MAX_VOXELS")


_READ_ERRORS = (EOFError, gzip.BadGzipFile, zlib.error, OSError, ValueError, nib.filebasedimages.ImageFileError)


def _corrupt(path: Path, exc: Exception) -> InputError:
    return InputError(f"cannot read NIfTI file, it is corrupt or truncated ({type(exc).__name__}: {exc})", path,
                      "re-export or re-download the file")


def load_nifti_image(path: str | Path) -> nib.Nifti1Image:
    """Open a NIfTI file and read its voxels eagerly, turning every failure into an :class:`InputError`.

    Checked in order, each with its own message: existence, file (not folder), permissions, 0 bytes, gzip/NIfTI
    signature, header size within :func:`voxel_limit` (before allocating), readable voxels (truncation),
    spatial pixdim finite and > 0.
    """
    path = Path(path)
    if not path.exists():
        raise InputError("file does not exist", path, "check the path")
    if not path.is_file():
        kind = "a folder" if path.is_dir() else "a special file (not a regular file)"
        raise InputError(f"expected a NIfTI file, found {kind}", path, "give the path of a .nii/.nii.gz file")
    if not os.access(path, os.R_OK):
        raise InputError("file is not readable (permission denied)", path, "check file permissions")
    if path.stat().st_size == 0:
        raise InputError("file is empty (0 bytes)", path, "re-export or re-download the file")
    if is_nifti(path):
        _check_signature(path)
    try:
        img = nib.load(str(path))  # header only
    except _READ_ERRORS as exc:
        raise _corrupt(path, exc) from exc
    _check_size(path, img.shape)
    try:
        data = np.asanyarray(img.dataobj)  # force a full read so truncation is caught here
    except _READ_ERRORS as exc:
        raise _corrupt(path, exc) from exc
    except MemoryError as exc:
        raise InputError(f"not enough memory to read the voxels ({shape_text(img.shape, FILE_XYZT)})", path,
                         "free memory or crop the volume") from exc
    raw = _raw_zooms(path, img)
    if raw is not None and not all(np.isfinite(z) and z > 0 for z in raw):
        # nibabel silently replaces zero pixdim by 1 mm and negative pixdim by its absolute value on load;
        # a wrong scale or an ambiguous sign would corrupt every mm measure, so refuse instead of guessing
        raise InputError("voxel spacing (pixdim) in the header is zero, negative or not finite: "
                         f"{axes_values(raw, FILE_XYZT, 'mm')}", path,
                         "set the correct positive pixdim in the header (e.g. with nibabel or SimpleITK)")
    # Keep the voxels just read in memory so callers do not decompress the file a second time.
    return img.__class__(data, img.affine, img.header)


def check_image_values(arr: np.ndarray, path: str | Path | None, what: str = "image") -> None:
    """Refuse NaN/Inf voxels and constant images (a blank export holds no anatomy to segment)."""
    finite = np.isfinite(arr)
    if not finite.all():
        raise InputError(f"{what} contains {int((~finite).sum())} NaN/Inf voxels", path,
                         "repair the image (NaN/Inf are not valid intensities)")
    if arr.size and arr.min() == arr.max():
        raise InputError(f"{what} is constant (every voxel is {float(arr.flat[0]):g}): there is no anatomy to "
                         "segment", path, "check the export (blank series, wrong channel or a failed conversion)")


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
        raise InputError("voxel spacing (pixdim) is missing or not positive: "
                         f"{axes_values(zooms, FILE_XYZT, 'mm')}", path,
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
        InputError: missing, empty, corrupt or not NIfTI, larger than :func:`voxel_limit`, not 3D, bad spacing,
            or (images) NaN/Inf or constant voxels.
    """
    path = Path(path)
    img = load_nifti_image(path)
    data = np.asanyarray(img.dataobj)
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise InputError(
            f"expected a 3D volume, got {data.ndim}D data, {shape_text(data.shape, FILE_XYZT)} in the file", path,
            "pass a single frame (for a 4D cine, use a reader that splits frames, e.g. the ACDC or M&Ms layout)"
            if data.ndim == 4 else "pass a 3D short-axis stack")
    spacing = spacing_from_header(img, path, 3)
    arr = np.transpose(data, (2, 1, 0))
    if kind == "image":
        arr = arr.astype(np.float32)
        check_image_values(arr, path)
    return np.ascontiguousarray(arr), (spacing[2], spacing[1], spacing[0]), img.affine.copy()


def read_nifti_4d(path: str | Path) -> tuple[np.ndarray, tuple[float, float, float], np.ndarray]:
    """Read a 4D cine NIfTI ``(i, j, k, t)`` as ``array[t, z, y, x]`` plus 3D spacing and affine."""
    path = Path(path)
    img = load_nifti_image(path)
    data = np.asanyarray(img.dataobj)
    if data.ndim != 4:
        raise InputError(f"expected a 4D cine, got {data.ndim}D data, {shape_text(data.shape, FILE_XYZT)} in the "
                         "file", path)
    spacing = spacing_from_header(img, path, 3)
    arr = np.transpose(data, (3, 2, 1, 0)).astype(np.float32)
    check_image_values(arr, path, "cine")
    return np.ascontiguousarray(arr), (spacing[2], spacing[1], spacing[0]), img.affine.copy()


def write_nifti(array_zyx: np.ndarray, affine: np.ndarray, path: str | Path,
                header: nib.Nifti1Header | None = None, codes: tuple[int, int] | None = None,
                frame_ms: float | None = None) -> Path:
    """Write ``array[z, y, x]`` (or a cine ``array[t, z, y, x]``) as NIfTI, atomically (temp file, then rename).

    Args:
        array_zyx: 3D ``(z, y, x)`` or 4D ``(t, z, y, x)`` array, written as ``(x, y, z[, t])``.
        affine: voxel -> world matrix.
        header: the input's header: its qform/sform codes, units and voxel sizes (and, for a 4D output, the
            frame interval pixdim[4]) are kept, so a prediction opens exactly over its input in every viewer.
            When ``affine`` is the header's own, the header's qform and sform matrices are kept as they are.
        codes: ``(qform_code, sform_code)`` for an output without ``header`` (e.g. ``(1, 1)``: scanner
            coordinates, for images converted from DICOM); default nibabel's ``(0, 2)``.
        frame_ms: time between frames in ms for a 4D output without ``header`` (pixdim[4], unit ms).

    No half-written file ever exists under ``path``: readers either see the old file or the new one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.asarray(array_zyx)
    if arr.ndim not in (3, 4):
        raise ValueError(f"write_nifti takes a 3D (z, y, x) or 4D (t, z, y, x) array, got {arr.ndim}D, "
                         f"{shape_text(arr.shape)}")
    data = np.transpose(arr, tuple(range(arr.ndim))[::-1])
    if header is not None:
        hdr = header.copy()
        keep = np.allclose(header.get_best_affine(), affine, atol=1e-4)
        img = nib.Nifti1Image(data, None if keep else affine, header=hdr)
        if not keep:
            img.set_qform(affine, int(header["qform_code"]) or None)
            img.set_sform(affine, int(header["sform_code"]) or None)
        zooms = tuple(header.get_zooms())
        img.header.set_zooms((zooms + (1.0,) * 4)[: arr.ndim])
    else:
        img = nib.Nifti1Image(data, affine)
        if codes is not None:
            img.set_qform(affine, int(codes[0]))
            img.set_sform(affine, int(codes[1]))
        if arr.ndim == 4:
            img.header.set_xyzt_units("mm", "msec" if frame_ms else "unknown")
            img.header.set_zooms(tuple(img.header.get_zooms()[:3]) + (float(frame_ms or 1.0),))
    img.set_data_dtype(data.dtype)
    suffix = ".nii.gz" if str(path).endswith(".gz") else ".nii"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{suffix}")
    os.close(fd)
    os.chmod(tmp, 0o644)  # mkstemp makes owner-only files; outputs are meant to be shared like any written file
    try:
        nib.save(img, tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path

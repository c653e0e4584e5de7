"""Tiny synthetic NIfTI / DICOM writers for the reader tests (imported by conftest and the tests).

Arrays are given in cmrseg order ``(z, y, x)`` and written in NIfTI order ``(x, y, z)``; shapes are
deliberately non-square so a transposition bug shows. The module name is unique so that it cannot clash
with another test folder's ``conftest``.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import nibabel as nib
import numpy as np

SHAPE = (3, 6, 5)  # z, y, x
SPACING = (8.0, 1.5, 1.25)  # sz, sy, sx

MNMS_CSV = ("External code,VendorName,Vendor,Centre,ED,ES,Pathology\n"
            "A1B2C3,Siemens,A,1,0,3,HCM\n"
            "D4E5F6,Philips,B,2,1,4,NOR\n")


def write_nii(path: Path, arr_zyx: np.ndarray, spacing=SPACING, dtype=None) -> Path:
    """Write a 3D ``(z, y, x)`` or 4D ``(t, z, y, x)`` array as NIfTI with the given spacing (mm)."""
    arr = np.asarray(arr_zyx)
    data = np.transpose(arr, (2, 1, 0)) if arr.ndim == 3 else np.transpose(arr, (3, 2, 1, 0))
    if dtype is not None:
        data = data.astype(dtype)
    sz, sy, sx = spacing
    zooms = (sx, sy, sz) + ((1.0,) if arr.ndim == 4 else ())
    fixed = tuple(z if z > 0 else 1.0 for z in zooms)
    img = nib.Nifti1Image(data, np.diag(list(fixed[:3]) + [1.0]))
    img.header.set_zooms(fixed)
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(img, str(path))
    if fixed != zooms:  # nibabel refuses to write zero pixdim: patch the bytes (pixdim[1] is at offset 80)
        opener = gzip.open if str(path).endswith(".gz") else open
        with opener(path, "rb") as fh:
            raw = bytearray(fh.read())
        raw[80:80 + 4 * len(zooms)] = np.asarray(zooms, "<f4").tobytes()
        with opener(path, "wb") as fh:
            fh.write(bytes(raw))
    return path

def image(seed: int = 0, shape=SHAPE) -> np.ndarray:
    return np.random.default_rng(seed).random(shape).astype(np.float32)

def label(shape=SHAPE, codes=(0, 1, 2, 3)) -> np.ndarray:
    """A label map using every code in ``codes`` (code ``codes[i]`` on slice rows ``i``)."""
    lab = np.zeros(shape, np.uint8 if max(codes) < 256 else np.int16)
    for i, c in enumerate(codes):
        lab[:, i, :] = c
    return lab

def write_dicom_series(folder: Path, vol_zyx: np.ndarray, spacing=SPACING,
                       iop=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0), origin=(10.0, -20.0, 30.0),
                       slice_offsets=None, pixel_spacing: tuple | None | str = "default",
                       series_uid: str | None = None, trigger_times=(0.0,), start_index: int = 0,
                       trigger_offsets=None, reverse_instances: bool = False) -> list[Path]:
    """Write ``vol_zyx`` (uint16 values) as a 2D MR DICOM series; files are named in shuffled order.

    ``slice_offsets`` (mm along the slice normal) default to ``k * sz``; ``pixel_spacing=None`` omits the tag.
    Several ``trigger_times`` write a cine (same pixels per frame plus the frame index); ``trigger_offsets`` (ms,
    one per slice) shift each slice's trigger times, as scanners do; ``reverse_instances`` numbers the images
    against the phase order (so only TriggerTime orders them right). Returns the paths in (slice, phase) order.
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    row_dir, col_dir = np.array(iop[:3]), np.array(iop[3:])
    normal = np.cross(row_dir, col_dir)
    nz, ny, nx = vol_zyx.shape
    offsets = [k * spacing[0] for k in range(nz)] if slice_offsets is None else slice_offsets
    series_uid = series_uid or generate_uid()
    study_uid = generate_uid()
    order = np.random.default_rng(1).permutation(nz * len(trigger_times))
    paths = []
    for n, (k, t) in enumerate((k, t) for k in range(nz) for t in range(len(trigger_times))):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
        ds.Modality, ds.PatientID, ds.SeriesNumber, ds.SeriesDescription = "MR", "anon", 1, "sax"
        pos = np.array(origin) + normal * offsets[k]
        ds.ImagePositionPatient = [f"{v:.6g}" for v in pos]
        ds.ImageOrientationPatient = [f"{v:.7g}" for v in iop]
        if pixel_spacing == "default":
            ds.PixelSpacing = [f"{spacing[1]:g}", f"{spacing[2]:g}"]
        elif pixel_spacing is not None:
            ds.PixelSpacing = [f"{v:g}" for v in pixel_spacing]
        ds.SliceThickness = f"{spacing[0]:g}"
        ds.Rows, ds.Columns = ny, nx
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.InstanceNumber = nz * len(trigger_times) - n if reverse_instances else n + 1
        ds.TriggerTime = f"{trigger_times[t] + (0.0 if trigger_offsets is None else trigger_offsets[k]):g}"
        ds.PixelData = (vol_zyx[k].astype(np.uint16) + t).tobytes()
        path = folder / f"IM{start_index + int(order[n]):04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths

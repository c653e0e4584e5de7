"""The canonical in-memory volume type every reader returns and everything downstream consumes.

It lives in ``io`` (the lowest layer that needs it) and is re-exported as ``cmrseg.data.Case``."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from cmrseg.axes import shape_text
from cmrseg.errors import InputError
from cmrseg.labels import NUM_CLASSES, UNANNOTATED


@dataclass
class Case:
    """One short-axis 3D volume (a single cardiac frame) with its geometry and optional annotations.

    Arrays are indexed ``(z, y, x)``: ``z`` runs over short-axis slices. ``spacing`` is ``(sz, sy, sx)`` in
    millimetres. ``affine`` is the NIfTI voxel-to-world matrix of the *original* file in its own (i, j, k)
    axis order, kept only so that predictions can be written back with the input's exact header.

    Attributes:
        image: float32 array ``(z, y, x)``.
        spacing: voxel size in mm ``(sz, sy, sx)``, all > 0.
        affine: 4x4 NIfTI affine of the source file (voxel i,j,k -> world), or identity scaled by spacing.
        case_id: unique id, e.g. ``patient001_frame01``.
        patient: patient/subject id, e.g. ``patient001``.
        label: optional uint8 label map in the cmrseg convention (0 BG, 1 RV, 2 Myo, 3 LV).
        scribble: optional uint8 scribble map (0-3 as label, 4 = not annotated).
        phase: ``"ED"``, ``"ES"`` or ``None``.
        frame: frame index in the cine (1-based as in ACDC), or ``None``.
        dataset: e.g. ``"acdc"``, ``"mscmr"``, ``"mnms"``, ``"nnunet"``, ``"pairs"``, ``"dicom"``.
        sequence: e.g. ``"bssfp"``, ``"lge"``.
        source: path of the image file (or DICOM folder) the case was read from.
        meta: free-form extra information (pathology group, vendor, split, ...).
    """

    image: np.ndarray
    spacing: tuple[float, float, float]
    affine: np.ndarray
    case_id: str
    patient: str
    label: np.ndarray | None = None
    scribble: np.ndarray | None = None
    phase: str | None = None
    frame: int | None = None
    dataset: str = "unknown"
    sequence: str = "unknown"
    source: Path | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        src = self.source
        if self.image.ndim != 3:
            raise InputError(
                f"image must be a 3D volume (z, y, x); got {self.image.ndim}D, "
                f"{shape_text(self.image.shape)}",
                src,
                "pass one cardiac frame; split a 4D cine into frames first",
            )
        self.image = np.asarray(self.image, dtype=np.float32)
        if not np.all(np.isfinite(self.image)):
            n = int((~np.isfinite(self.image)).sum())
            raise InputError(f"image contains {n} NaN/Inf voxels", src, "repair or re-export the image")
        sp = tuple(float(s) for s in self.spacing)
        if len(sp) != 3 or not all(np.isfinite(s) and s > 0 for s in sp):
            raise InputError(f"voxel spacing must be 3 positive numbers (z, y, x) in mm; got {self.spacing}", src,
                             "fix the pixdim / PixelSpacing in the file header")
        self.spacing = sp  # type: ignore[assignment]
        if self.label is not None:
            self.label = validate_label(self.label, self.image.shape, src, allow_unannotated=False)
        if self.scribble is not None:
            self.scribble = validate_label(self.scribble, self.image.shape, src, allow_unannotated=True)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.image.shape)  # type: ignore[return-value]

    def with_label(self, label: np.ndarray | None) -> "Case":
        """A copy of this case with another label map (e.g. a prediction)."""
        return replace(self, label=label)


def validate_label(
    label: np.ndarray,
    shape: tuple[int, ...],
    path: str | Path | None = None,
    allow_unannotated: bool = False,
) -> np.ndarray:
    """Check a label map's shape and values and return it as uint8.

    Raises:
        InputError: shape mismatch, non-integer values or codes outside 0-3 (0-4 for scribbles).
    """
    label = np.asarray(label)
    if label.shape != tuple(shape):
        raise InputError(f"label {shape_text(label.shape)} does not match the image's {shape_text(shape)}", path,
                         "give the label map of this very image (same grid)")
    if not np.all(np.isfinite(label)):
        raise InputError("label map contains NaN/Inf", path, "re-export the label map as integers")
    if np.issubdtype(label.dtype, np.floating) and not np.all(np.equal(np.mod(label, 1), 0)):
        raise InputError("label map has non-integer values (was it resampled with linear interpolation?)",
                         path, "resample label maps with nearest-neighbour interpolation")
    top = UNANNOTATED if allow_unannotated else NUM_CLASSES - 1
    values = np.unique(label)
    bad = [int(v) for v in values if v < 0 or v > top]
    if bad:
        raise InputError(
            f"label values {bad} are outside 0..{top} (0 BG, 1 RV, 2 Myo, 3 LV"
            + (", 4 unannotated)" if allow_unannotated else ")"),
            path,
            "map your codes to the cmrseg convention (see README, 'Label convention')",
        )
    return label.astype(np.uint8)

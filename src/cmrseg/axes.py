"""Shapes and voxel spacings as messages and outputs write them: always with their axis order.

A bare ``(10, 256, 216)`` is ambiguous: cmrseg arrays are ``(z, y, x)`` (a cine ``(t, z, y, x)``), a NIfTI file
stores ``(x, y, z[, t])``, a DICOM image is ``(rows, columns)`` with PixelSpacing ``(row, column)`` = ``(y, x)``.
Every user-facing message, log line and output field that shows a shape or a spacing names its axes with these
helpers (JSON fields carry the order in their name, e.g. ``spacing_mm_zyx``).

Example:
    >>> shape_text((10, 256, 216))
    'shape (z, y, x) = (10, 256, 216)'
    >>> spacing_text((10.0, 1.5625, 1.5625))
    'spacing (z, y, x) = (10, 1.5625, 1.5625) mm'
    >>> shape_text((216, 256, 10), "xyzt")  # a 3D NIfTI as stored
    'shape (x, y, z) = (216, 256, 10)'
    >>> shape_text((256, 216))  # not the (z, y, x) it should be: counted, not misnamed
    'shape (2 values) = (256, 216)'
"""

from __future__ import annotations

from collections.abc import Sequence

#: cmrseg's in-memory order of a volume, a cine, and a NIfTI file's stored order.
ZYX, TZYX, FILE_XYZT = "zyx", "tzyx", "xyzt"


def axes_text(axes: str | Sequence[str]) -> str:
    """``"(z, y, x)"``; ``axes`` is a string of one-letter names or a sequence of names."""
    return "(" + ", ".join(axes) + ")"


def axes_values(values: Sequence[float], axes: str | Sequence[str] = ZYX, unit: str = "") -> str:
    """``"(z, y, x) = (10, 1.5625, 1.5625) mm"``: numbers to 4 decimals without trailing zeros. When there are
    more or fewer values than ``axes`` names (a wrong input), they are counted instead of misnamed
    (``"(2 values) = (256, 216)"``); a stored order such as ``"xyzt"`` is cut to the values' number."""
    vals = tuple(values)
    names = list(axes)
    if len(names) > len(vals) and "".join(names) == FILE_XYZT[: len(names)]:
        names = names[: len(vals)]
    label = axes_text(names) if len(names) == len(vals) else f"({len(vals)} values)"
    text = "(" + ", ".join(f"{round(float(v), 4):g}" for v in vals) + ("," if len(vals) == 1 else "") + ")"
    return f"{label} = {text}" + (f" {unit}" if unit else "")


def shape_text(shape: Sequence[int], axes: str | Sequence[str] = ZYX) -> str:
    """``"shape (z, y, x) = (10, 256, 216)"`` (see :func:`axes_values` for a shape of another length)."""
    return "shape " + axes_values([int(d) for d in shape], axes)


def spacing_text(spacing: Sequence[float], axes: str | Sequence[str] = ZYX) -> str:
    """``"spacing (z, y, x) = (10, 1.5625, 1.5625) mm"``."""
    return "spacing " + axes_values(spacing, axes, "mm")

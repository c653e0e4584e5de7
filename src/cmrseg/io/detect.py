"""Recognise a dataset folder's layout and list its cases, with errors that say what each layout expects."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from cmrseg.errors import InputError
from cmrseg.io.acdc import list_acdc, looks_like_acdc
from cmrseg.io.base import CaseRef, check_folder
from cmrseg.io.dicom import list_dicom, looks_like_dicom
from cmrseg.io.mnms import list_mnms, looks_like_mnms
from cmrseg.io.mscmr import list_mscmr, looks_like_mscmr
from cmrseg.io.nnunet import list_nnunet, looks_like_nnunet
from cmrseg.io.pairs import list_pairs, looks_like_pairs


@dataclass(frozen=True)
class Layout:
    name: str
    looks_like: Callable[[Path], bool]
    list_refs: Callable[[Path], list[CaseRef]]
    expects: str


#: Tried in this order by :func:`detect_layout` (most specific first; ``pairs`` accepts any NIfTI files).
LAYOUTS: dict[str, Layout] = {layout.name: layout for layout in (
    Layout("acdc", looks_like_acdc, list_acdc,
           "patients.csv + patientXXX/patientXXX_frameYY.nii.gz (+ _gt, _scribble), or the ACDC download with "
           "patientXXX/Info.cfg"),
    Layout("mscmr", looks_like_mscmr, list_mscmr,
           "train/ val/ (or test/) folders with subjectN/subjectN_DE.nii.gz (+ _DE_scribble or _DE_manual)"),
    Layout("mnms", looks_like_mnms, list_mnms,
           "<code>/<code>_sa.nii.gz (+ _sa_gt.nii.gz) 4D cines and the M&Ms CSV with External code, ED, ES"),
    Layout("nnunet", looks_like_nnunet, list_nnunet,
           "nnU-Net v2 raw: dataset.json, imagesTr/<case>_0000.nii.gz, labelsTr/<case>.nii.gz"),
    Layout("pairs", looks_like_pairs, list_pairs,
           "X.nii.gz with X_gt/X_label/X_seg.nii.gz in one folder, or images/ + labels/ with equal names"),
    Layout("dicom", looks_like_dicom, list_dicom,
           "a DICOM series (.dcm files) in the folder or one series per subfolder"),
)}


def _no_match(root: Path) -> InputError:
    listing = "; ".join(f"{name}: {layout.expects}" for name, layout in LAYOUTS.items())
    return InputError(f"folder matches no known dataset layout. Layouts: {listing}", root,
                      "arrange the files in one of these layouts, or pass the layout explicitly")


def detect_layout(root: str | Path) -> str:
    """Name of the first layout (acdc, mscmr, mnms, nnunet, pairs, dicom) that ``root`` looks like.

    Raises:
        InputError: the folder does not exist, is empty, or matches no layout (the message lists them all).
    """
    root = Path(root)
    check_folder(root)
    for name, layout in LAYOUTS.items():
        if layout.looks_like(root):
            return name
    raise _no_match(root)


def load_dataset(root: str | Path, layout: str | None = None) -> list[CaseRef]:
    """List every case of a dataset folder as lazy :class:`CaseRef`s, sorted by patient then frame.

    Args:
        root: dataset folder.
        layout: one of :data:`LAYOUTS`; auto-detected when ``None``.

    Example:
        >>> refs = load_dataset("../shared/data/acdc")          # doctest: +SKIP
        >>> case = refs[0].load()                               # doctest: +SKIP
    """
    root = Path(root)
    if layout is not None and layout not in LAYOUTS:
        close = difflib.get_close_matches(layout, list(LAYOUTS), n=1)
        raise InputError(f"unknown layout {layout!r}; known: {', '.join(LAYOUTS)}"
                         + (f" (did you mean {close[0]!r}?)" if close else ""), root)
    check_folder(root)
    name = layout or detect_layout(root)
    refs = LAYOUTS[name].list_refs(root)
    if not refs:
        raise InputError(f"no cases found for layout {name!r}", root, f"expected {LAYOUTS[name].expects}")
    return refs

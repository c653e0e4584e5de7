"""Label maps from outside the dataset (pseudo-labels, propagated labels) attached to its cases.

Self-training writes CRF-refined pseudo-labels, label propagation writes warped masks: both are NIfTI label
maps on the input grid named ``<case_id>.nii.gz`` in one folder. This module turns such a folder plus the
dataset's :class:`CaseRef` s into refs whose ``load()`` returns the case with that label, so the usual cache,
preprocessing and :class:`PatchStream` apply unchanged. Code 4 (``UNANNOTATED``) marks pixels to ignore
(e.g. low-confidence pseudo-labels); losses that honour it: ``masked_dice_ce``, ``partial_ce``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from cmrseg.data.case import Case, validate_label
from cmrseg.errors import ConfigError
from cmrseg.io.base import CaseRef


def label_file(folder: Path, case_id: str) -> Path:
    return Path(folder) / f"{case_id}.nii.gz"


def _load_with_external_label(ref: CaseRef) -> Case:
    from cmrseg.io.load import load_ref
    from cmrseg.io.nifti import read_nifti

    base = replace(ref, label_path=None, loader=None)
    case = load_ref(base, with_label=False)
    label, _, _ = read_nifti(ref.label_path, kind="label")
    # validated here (0-4 allowed), attached after construction: Case itself only accepts 0-3 labels
    case.label = validate_label(label, case.shape, ref.label_path, allow_unannotated=True)
    return case


SCRIBBLES = "scribbles"  # labels_dir value: use each case's own scribble map


def attach_scribbles(refs: list[CaseRef]) -> list[CaseRef]:
    """Refs of the cases in ``refs`` that have a scribble map, labelled by it (4 = not annotated).

    Raises:
        ConfigError: no case has a scribble map.
    """
    out = [replace(ref, label_path=ref.scribble_path, loader=_load_with_external_label)
           for ref in refs if ref.scribble_path is not None]
    if not out:
        raise ConfigError(f"none of the {len(refs)} cases of this pool has a scribble map "
                          "(labels_dir: scribbles needs *_scribble.nii.gz files, e.g. MS-CMRSeg LGE train)")
    return out


def attach_labels(refs: list[CaseRef], folder: str | Path, required: bool = False) -> list[CaseRef]:
    """Refs of the cases in ``refs`` that have ``folder/<case_id>.nii.gz``, labelled from that file.

    Args:
        refs: dataset cases (their own labels, if any, are ignored).
        folder: folder of label maps on each case's own grid.
        required: raise if a case has no label file (otherwise it is skipped).

    ``folder == "scribbles"`` labels the cases with their own scribble maps (:func:`attach_scribbles`).

    Raises:
        ConfigError: the folder is missing, or no (or, with ``required``, not every) case has a label file.
    """
    if str(folder) == SCRIBBLES:
        return attach_scribbles(refs)
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"label folder {folder} does not exist (expected <case_id>.nii.gz label maps)")
    out, missing = [], []
    for ref in refs:
        path = label_file(folder, ref.case_id)
        if path.is_file():
            out.append(replace(ref, label_path=path, loader=_load_with_external_label))
        else:
            missing.append(ref.case_id)
    if not out or (required and missing):
        raise ConfigError(f"{folder}: no label map for {len(missing)} of {len(refs)} cases "
                          f"(e.g. {missing[:3]}); expected files named <case_id>.nii.gz")
    return out

"""Plain image/label pairs matched by file name, for data in no particular challenge layout.

Either one folder with ``X.nii.gz`` beside ``X_gt`` / ``X_label`` / ``X_seg`` / ``X_mask`` (and optionally
``X_scribble``), or ``images/`` + ``labels/`` (and optionally ``scribbles/``) subfolders with the same names.
Images without a label are listed with ``label_path=None`` (e.g. for prediction).
"""

from __future__ import annotations

import logging
from pathlib import Path

from cmrseg.errors import InputError
from cmrseg.io.base import CaseRef, check_folder, finalize_refs
from cmrseg.io.nifti import is_nifti, strip_nifti_suffix
from cmrseg.io.nnunet import patient_frame

log = logging.getLogger(__name__)

LABEL_SUFFIXES = ("_gt", "_label", "_seg", "_mask")
SCRIBBLE_SUFFIX = "_scribble"
IMAGE_DIRS = ("images", "image", "imgs")
LABEL_DIRS = ("labels", "label", "masks", "gt", "segmentations")
SCRIBBLE_DIRS = ("scribbles", "scribble")


def _niftis(folder: Path) -> dict[str, Path]:
    """NIfTI files directly in ``folder`` keyed by name without suffix (``x.nii`` and ``x.nii.gz`` clash)."""
    files: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and is_nifti(p.name):
            stem = strip_nifti_suffix(p.name)
            if stem in files:
                raise InputError(f"case id {stem!r} occurs twice ({files[stem].name} and {p.name})", folder,
                                 "remove or rename the duplicate so every case has a unique name")
            files[stem] = p
    return files


def _first_dir(root: Path, names: tuple[str, ...]) -> Path | None:
    return next((root / n for n in names if (root / n).is_dir()), None)


def looks_like_pairs(root: Path) -> bool:
    """NIfTI files in the folder itself or in an ``images/`` subfolder."""
    root = Path(root)
    images = _first_dir(root, IMAGE_DIRS)
    return bool(_niftis(root)) or (images is not None and bool(_niftis(images)))


def _ref(stem: str, image: Path, label: Path | None, scribble: Path | None) -> CaseRef:
    patient, frame, phase = patient_frame(stem)
    return CaseRef(case_id=stem, patient=patient, image_path=image, label_path=label, scribble_path=scribble,
                   frame=frame, phase=phase, dataset="pairs")


def _lookup(files: dict[str, Path], stem: str, suffixes: tuple[str, ...]) -> Path | None:
    return next((files[stem + s] for s in suffixes if stem + s in files), None)


def list_pairs(root: Path) -> list[CaseRef]:
    """List image/label pairs (``images/`` + ``labels/`` subfolders, or ``X`` + ``X_gt`` in one folder)."""
    root = Path(root)
    check_folder(root)
    image_dir = _first_dir(root, IMAGE_DIRS)
    refs = []
    if image_dir is not None:
        label_dir, scrib_dir = _first_dir(root, LABEL_DIRS), _first_dir(root, SCRIBBLE_DIRS)
        labels = _niftis(label_dir) if label_dir else {}
        scribbles = _niftis(scrib_dir) if scrib_dir else {}
        for stem, image in _niftis(image_dir).items():
            refs.append(_ref(stem, image, _lookup(labels, stem, ("",) + LABEL_SUFFIXES),
                             _lookup(scribbles, stem, ("", SCRIBBLE_SUFFIX))))
    else:
        files = _niftis(root)
        annotation = {stem for stem in files if stem.endswith(LABEL_SUFFIXES + (SCRIBBLE_SUFFIX,))}
        for stem in sorted(annotation):
            base = stem.rsplit("_", 1)[0]
            if base not in files:
                log.warning("%s: annotation %s has no image %s.nii.gz; ignored", root, files[stem].name, base)
        for stem, image in files.items():
            if stem not in annotation:
                refs.append(_ref(stem, image, _lookup(files, stem, LABEL_SUFFIXES),
                                 _lookup(files, stem, (SCRIBBLE_SUFFIX,))))
    return finalize_refs(refs, root)

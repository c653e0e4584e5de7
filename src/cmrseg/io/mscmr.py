"""MS-CMRSeg 2019 layout: ``<split>/subjectN/subjectN_DE.nii.gz`` (LGE) with scribbles or manual labels.

Our copy has ``train/`` (``_DE_scribble``, scribbles only) and ``val/`` (``_DE_manual``, full labels). Also
tolerated: bSSFP (``_C0``) and T2 (``_T2``) images, files directly in the split folder, and the challenge's
original label codes (200 Myo, 500 LV, 600 RV), which are remapped.
"""

from __future__ import annotations

import re
from pathlib import Path

from cmrseg.io.base import CaseRef, check_folder, finalize_refs
from cmrseg.io.nifti import NIFTI_SUFFIXES

IMAGE_RE = re.compile(r"^(?P<patient>.+?)_(?P<seq>DE|LGE|C0|T2)\.nii(\.gz)?$", re.IGNORECASE)
SEQUENCES = {"de": "lge", "lge": "lge", "c0": "bssfp", "t2": "t2"}
SPLITS = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
          "test": "test", "testing": "test"}
LABEL_SUFFIXES = ("_manual", "_gt", "_label")
#: Identity on cmrseg codes (4 = unannotated, for scribbles) plus the challenge's original codes.
MSCMR_TO_CMRSEG: dict[int, int] = {0: 0, 1: 1, 2: 2, 3: 3, 4: 4, 200: 2, 500: 3, 600: 1}


def _find(folder: Path, stem: str, suffixes: tuple[str, ...]) -> Path | None:
    for s in suffixes:
        for ext in NIFTI_SUFFIXES:
            if (folder / f"{stem}{s}{ext}").is_file():
                return folder / f"{stem}{s}{ext}"
    return None


def _image_files(split_dir: Path) -> list[Path]:
    """Image files in ``split_dir`` and its direct subfolders."""
    files = []
    for p in sorted(split_dir.iterdir()):
        candidates = sorted(p.iterdir()) if p.is_dir() else [p]
        files += [f for f in candidates if f.is_file() and IMAGE_RE.match(f.name)]
    return files


def _split_dirs(root: Path) -> list[Path]:
    return [p for p in sorted(root.iterdir()) if p.is_dir() and p.name.lower() in SPLITS]


def looks_like_mscmr(root: Path) -> bool:
    """A ``train``/``val``/``test`` folder holding ``*_DE``/``*_C0``/``*_T2`` NIfTI files (or subject folders)."""
    return any(_image_files(d) for d in _split_dirs(Path(root)))


def list_mscmr(root: Path) -> list[CaseRef]:
    """List MS-CMRSeg volumes; case ids ``subjectN_DE``; split from the folder name (train/val/test)."""
    root = Path(root)
    check_folder(root)
    refs = []
    for split_dir in _split_dirs(root):
        for image in _image_files(split_dir):
            m = IMAGE_RE.match(image.name)
            assert m is not None
            stem = image.name.split(".nii")[0]
            refs.append(CaseRef(
                case_id=stem, patient=m["patient"], image_path=image,
                label_path=_find(image.parent, stem, LABEL_SUFFIXES),
                scribble_path=_find(image.parent, stem, ("_scribble",)),
                dataset="mscmr", sequence=SEQUENCES[m["seq"].lower()], split=SPLITS[split_dir.name.lower()],
                label_map=MSCMR_TO_CMRSEG, meta={"subset": split_dir.name}))
    return finalize_refs(refs, root)

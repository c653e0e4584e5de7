"""Lightweight references to cases on disk; readers list them, ``load()`` reads one :class:`Case`.

Listing is cheap (no voxels read), so a 10,000-scan cohort can be enumerated, split and filtered
before anything heavy happens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from cmrseg.errors import InputError
from cmrseg.io.case import Case


@dataclass
class CaseRef:
    """Where one 3D frame lives and what is known about it before reading it.

    Attributes:
        case_id: unique id within the dataset (e.g. ``patient001_frame01``).
        patient: patient/subject id.
        image_path: NIfTI file (3D, or 4D with ``time_index``) or DICOM series folder.
        label_path: optional full label map.
        scribble_path: optional scribble map.
        time_index: 0-based frame index into a 4D ``image_path``/``label_path``; ``None`` for 3D files.
        phase, frame, dataset, sequence: as in :class:`Case`.
        split: ``"train"``, ``"val"``, ``"test"`` or ``None`` when the layout defines no split.
        label_map: code remapping applied to label files (e.g. M&Ms -> cmrseg); ``None`` = identity.
        meta: extra facts (pathology group, vendor, centre, ...).
    """

    case_id: str
    patient: str
    image_path: Path
    label_path: Path | None = None
    scribble_path: Path | None = None
    time_index: int | None = None
    phase: str | None = None
    frame: int | None = None
    dataset: str = "unknown"
    sequence: str = "unknown"
    split: str | None = None
    label_map: dict[int, int] | None = None
    meta: dict = field(default_factory=dict)
    loader: Callable[["CaseRef"], Case] | None = field(default=None, repr=False, compare=False)

    def load(self, with_label: bool = True) -> Case:
        """Read the voxels (and label/scribble when present) into a validated :class:`Case`."""
        if self.loader is not None:
            return self.loader(self)
        from cmrseg.io.load import load_ref  # local import: io.load depends on this module

        return load_ref(self, with_label=with_label)


def check_folder(root: Path) -> None:
    """Raise a clear :class:`InputError` unless ``root`` is an existing, non-empty folder."""
    if not root.exists():
        raise InputError("folder does not exist", root, "check the path")
    if not root.is_dir():
        raise InputError("expected a dataset folder, got a file", root,
                         "for a single volume use read_volume() (cmrseg predict accepts files too)")
    if not any(root.iterdir()):
        raise InputError("folder is empty", root, "point to the folder that holds the dataset")


def natural_key(text: str) -> tuple:
    """Sort key that orders embedded numbers numerically (``subject2`` before ``subject13``)."""
    return tuple(int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text))


def finalize_refs(refs: list[CaseRef], root: Path) -> list[CaseRef]:
    """Sort refs by patient then frame (deterministic order) and check that case ids are unique.

    Raises:
        InputError: two refs share a case id (the dataset would be ambiguous).
    """
    refs = sorted(refs, key=lambda r: (natural_key(r.patient), -1 if r.frame is None else r.frame,
                                       natural_key(r.case_id)))
    seen: dict[str, CaseRef] = {}
    for ref in refs:
        if ref.case_id in seen:
            raise InputError(
                f"case id {ref.case_id!r} occurs twice ({seen[ref.case_id].image_path} and {ref.image_path})",
                root, "remove or rename the duplicate so every case has a unique name")
        seen[ref.case_id] = ref
    return refs

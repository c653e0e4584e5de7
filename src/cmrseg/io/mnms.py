"""M&Ms (multi-centre, multi-vendor, MICCAI 2020) layout: 4D cines with ED/ES frames from the info CSV.

``<code>/<code>_sa.nii.gz`` (4D cine) and ``<code>_sa_gt.nii.gz`` (4D, labelled at ED and ES only), found up
to a few folders deep (the download nests them under ``Training/Labeled`` etc.). The ED/ES time indices
(0-based) come from the dataset CSV (columns ``External code``, ``VendorName``/``Vendor``, ``Centre``,
``ED``, ``ES``), searched as any ``*.csv`` with an ``External code`` column in the root, its subfolders or
its two parent folders. M&Ms codes (1 LV, 2 Myo, 3 RV) are remapped to cmrseg's (3 LV, 2 Myo, 1 RV).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from cmrseg.errors import InputError
from cmrseg.io.base import CaseRef, check_folder, finalize_refs
from cmrseg.labels import MNMS_TO_CMRSEG

SUFFIX = "_sa.nii.gz"
MAX_DEPTH = 4
SPLITS = {"training": "train", "train": "train", "validation": "val", "val": "val", "testing": "test",
          "test": "test"}


def _walk(root: Path, max_depth: int = MAX_DEPTH):
    """Yield ``(folder, file names)`` down to ``max_depth`` levels below ``root``."""
    base = len(root.parts)
    for dirpath, dirnames, filenames in os.walk(root):
        if len(Path(dirpath).parts) - base >= max_depth:
            dirnames[:] = []
        dirnames.sort()
        yield Path(dirpath), filenames


def _cines(root: Path) -> list[Path]:
    return sorted(d / f for d, files in _walk(root) for f in files if f.endswith(SUFFIX))


def looks_like_mnms(root: Path) -> bool:
    """Some ``<code>/<code>_sa.nii.gz`` within a few folder levels."""
    for d, files in _walk(Path(root)):
        if f"{d.name}{SUFFIX}" in files:
            return True
    return False


def _has_code_column(path: Path) -> bool:
    try:
        with open(path, newline="", encoding="utf-8-sig", errors="replace") as fh:
            header = next(csv.reader(fh), [])
    except OSError:
        return False
    return "External code" in [h.strip() for h in header]


def find_info_csv(root: Path) -> Path | None:
    """The M&Ms information CSV: any ``*.csv`` with an ``External code`` column near ``root``."""
    root = Path(root).resolve()
    folders = [root] + sorted(p for p in root.iterdir() if p.is_dir()) + list(root.parents)[:2]
    for folder in folders:
        for path in sorted(folder.glob("*.csv")):
            if _has_code_column(path):
                return path
    return None


def read_info_csv(path: Path) -> dict[str, dict[str, str]]:
    """Rows of the M&Ms CSV keyed by external code, with stripped column names."""
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as fh:
        rows = [{(k or "").strip(): (v or "").strip() for k, v in row.items()} for row in csv.DictReader(fh)]
    missing = {"External code", "ED", "ES"} - set(rows[0] if rows else {})
    if missing:
        raise InputError(f"M&Ms information CSV lacks columns {sorted(missing)}", path)
    return {row["External code"]: row for row in rows}


def _split_of(cine: Path, root: Path) -> tuple[str | None, str | None]:
    parts = cine.relative_to(root).parts[:-2]
    for p in parts:
        if p.lower() in SPLITS:
            return SPLITS[p.lower()], "/".join(parts)
    return None, "/".join(parts) or None


def list_mnms(root: Path, csv_path: Path | None = None) -> list[CaseRef]:
    """List the ED and ES frames of every M&Ms cine as :class:`CaseRef` with ``time_index``.

    Case ids are ``<code>_frameYY`` with ``frame = time_index + 1``. Split from a ``Training``/``Validation``/
    ``Testing`` folder in the path, else ``None``.

    Raises:
        InputError: no information CSV (ED/ES are unknown without it), or a cine whose code is not in it.
    """
    root = Path(root)
    check_folder(root)
    csv_path = Path(csv_path) if csv_path is not None else find_info_csv(root)
    if csv_path is None:
        raise InputError("no M&Ms information CSV found (a *.csv with columns 'External code', 'ED', 'ES')", root,
                         "the ED/ES frame of each cine is only given there: put the dataset's CSV in this folder "
                         "or pass csv_path")
    info = read_info_csv(csv_path)
    refs = []
    for cine in _cines(root):
        code = cine.name[: -len(SUFFIX)]
        row = info.get(code)
        if row is None:
            raise InputError(f"case {code} is not in the information CSV {csv_path}", cine,
                             "use the CSV of this M&Ms release")
        gt = cine.with_name(f"{code}_sa_gt.nii.gz")
        split, subset = _split_of(cine, root)
        meta = {"vendor": row.get("VendorName") or row.get("Vendor"), "vendor_code": row.get("Vendor"),
                "centre": row.get("Centre"), "pathology": row.get("Pathology"), "subset": subset}
        for phase in ("ED", "ES"):
            try:
                t = int(float(row[phase]))
            except ValueError as exc:
                raise InputError(f"{phase} of {code} is not a number ({row[phase]!r})", csv_path) from exc
            refs.append(CaseRef(case_id=f"{code}_frame{t + 1:02d}", patient=code, image_path=cine,
                                label_path=gt if gt.is_file() else None, time_index=t, phase=phase, frame=t + 1,
                                dataset="mnms", sequence="bssfp", split=split, label_map=MNMS_TO_CMRSEG,
                                meta=dict(meta)))
    return finalize_refs(refs, root)

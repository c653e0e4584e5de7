"""ACDC (MICCAI 2017) layout: labelled ED/ES frames of cine bSSFP, 1-based frame numbers.

Two forms are read:

* our copy: ``patients.csv`` (patient, split, group, ed_frame, es_frame, ...) next to ``patientXXX/`` folders
  holding ``patientXXX_frameYY.nii.gz`` with ``_gt`` (full label) and ``_scribble`` files;
* the official download: ``patientXXX/Info.cfg`` (``ED: 1``, ``ES: 12``, ``Group: DCM``, ...) beside the frame
  files and ``patientXXX_4d.nii.gz``, possibly under ``training/`` and ``testing/``. It defines no split;
  the parent folder name is kept in ``meta["subset"]``.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import nibabel as nib

from cmrseg.axes import FILE_XYZT, shape_text
from cmrseg.errors import InputError
from cmrseg.io.base import CaseRef, check_folder, finalize_refs

PATIENT_RE = re.compile(r"^patient\d+$")
CSV_NAME = "patients.csv"
SUBSETS = ("training", "testing")


def _nii(folder: Path, stem: str) -> Path | None:
    for suffix in (".nii.gz", ".nii"):
        if (folder / f"{stem}{suffix}").is_file():
            return folder / f"{stem}{suffix}"
    return None


def _patient_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and PATIENT_RE.match(p.name))


def _is_download_patient(d: Path) -> bool:
    return (d / "Info.cfg").is_file()


def looks_like_acdc(root: Path) -> bool:
    """``patients.csv`` with patient folders, or ``patientXXX/Info.cfg`` folders (also under training/testing)."""
    root = Path(root)
    if (root / CSV_NAME).is_file() and _patient_dirs(root):
        return True
    for folder in [root] + [root / s for s in SUBSETS if (root / s).is_dir()]:
        dirs = _patient_dirs(folder)
        if dirs and any(_is_download_patient(d) for d in dirs[:5]):
            return True
    return False


def read_info_cfg(path: Path) -> dict[str, str]:
    """Parse an ACDC ``Info.cfg`` (``Key: value`` lines)."""
    info: dict[str, str] = {}
    for line in path.read_text(errors="replace").splitlines():
        if ":" in line:
            key, value = line.split(":", 1)
            info[key.strip()] = value.strip()
    for key in ("ED", "ES"):
        if not info.get(key, "").strip().isdigit():
            raise InputError(f"{key} frame is missing or not a number ({info.get(key)!r})", path,
                             "Info.cfg must contain lines like 'ED: 1' and 'ES: 12'")
    return info


def _frame_refs(pdir: Path, frames: dict[str, int], split: str | None, meta: dict,
                require: bool, where: Path) -> list[CaseRef]:
    refs = []
    for phase, frame in frames.items():
        stem = f"{pdir.name}_frame{frame:02d}"
        image = _nii(pdir, stem)
        if image is None:
            if require:
                raise InputError(f"{phase} frame {frame} of {pdir.name} is listed but {stem}.nii.gz is missing",
                                 where, f"add {pdir / (stem + '.nii.gz')} or remove the patient from the list")
            continue
        refs.append(CaseRef(case_id=stem, patient=pdir.name, image_path=image, label_path=_nii(pdir, f"{stem}_gt"),
                            scribble_path=_nii(pdir, f"{stem}_scribble"), phase=phase, frame=frame,
                            dataset="acdc", sequence="bssfp", split=split, meta=dict(meta)))
    return refs


def _list_copy(root: Path) -> list[CaseRef]:
    csv_path = root / CSV_NAME
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{CSV_NAME} is not a readable UTF-8 CSV file ({type(exc).__name__}: {exc})", csv_path,
                         "save it as comma-separated UTF-8 text") from exc
    need = {"patient", "ed_frame", "es_frame"}
    if not rows or not need <= set(rows[0]):
        raise InputError(f"{CSV_NAME} must have columns {sorted(need)} (and optionally split, group)", csv_path,
                         "write a header line such as 'patient,split,group,ed_frame,es_frame' and one row per patient")
    refs = []
    for line, row in enumerate(rows, start=2):
        patient = (row.get("patient") or "").strip()
        if not patient or "/" in patient or "\\" in patient or patient in (".", ".."):
            raise InputError(f"line {line}: patient id {patient!r} is empty or not a plain folder name", csv_path,
                             "give the patient folder name, e.g. patient001")
        pdir = root / patient
        if not pdir.is_dir():
            raise InputError(f"patient folder {pdir.name} listed in {CSV_NAME} does not exist", csv_path,
                             "add the folder or remove its row")
        try:
            frames = {"ED": int(row["ed_frame"]), "ES": int(row["es_frame"])}
        except (TypeError, ValueError) as exc:
            raise InputError(f"line {line}: ed_frame/es_frame of {pdir.name} are not integers "
                             f"({row.get('ed_frame')!r}, {row.get('es_frame')!r})", csv_path,
                             "give 1-based frame numbers, e.g. 1 and 12") from exc
        split = (row.get("split") or "").strip() or None
        meta = {"group": (row.get("group") or "").strip() or None}
        refs += _frame_refs(pdir, frames, split, meta, require=True, where=csv_path)
    return refs


def _list_download(root: Path) -> list[CaseRef]:
    refs = []
    folders = [root / s for s in SUBSETS if (root / s).is_dir()] or [root]
    for folder in folders:
        for pdir in _patient_dirs(folder):
            if not _is_download_patient(pdir):
                continue
            info = read_info_cfg(pdir / "Info.cfg")
            meta = {"group": info.get("Group"), "subset": folder.name,
                    "height_cm": info.get("Height"), "weight_kg": info.get("Weight"),
                    "n_frames": info.get("NbFrame")}
            refs += _frame_refs(pdir, {"ED": int(info["ED"]), "ES": int(info["ES"])}, None, meta,
                                require=False, where=pdir / "Info.cfg")
    return refs


def list_acdc(root: Path) -> list[CaseRef]:
    """List the labelled ED/ES frames of an ACDC folder (our copy with ``patients.csv``, or the download).

    Case ids are ``patientXXX_frameYY``; ``frame`` is ACDC's 1-based frame number.
    """
    root = Path(root)
    check_folder(root)
    refs = _list_copy(root) if (root / CSV_NAME).is_file() else _list_download(root)
    return finalize_refs(refs, root)


def list_acdc_cine_frames(patient_dir: Path) -> list[CaseRef]:
    """Every frame of ``patientXXX_4d.nii.gz`` as an unlabelled :class:`CaseRef` (``time_index`` 0-based).

    Reads only the NIfTI header. Frames that are ED/ES per ``Info.cfg`` get their phase.
    """
    pdir = Path(patient_dir)
    check_folder(pdir)
    cine = _nii(pdir, f"{pdir.name}_4d")
    if cine is None:
        raise InputError(f"no {pdir.name}_4d.nii.gz cine found", pdir,
                         "the 4D cine is part of the full ACDC download, not of every copy")
    try:
        shape = nib.load(str(cine)).shape
    except Exception as exc:  # nibabel raises several types for bad headers
        raise InputError(f"cannot read NIfTI header ({exc})", cine, "re-download the file") from exc
    if len(shape) != 4:
        raise InputError(f"expected a 4D cine, got {shape_text(shape, FILE_XYZT)} in the header", cine)
    phases: dict[int, str] = {}
    if (pdir / "Info.cfg").is_file():
        info = read_info_cfg(pdir / "Info.cfg")
        phases = {int(info["ED"]): "ED", int(info["ES"]): "ES"}
    refs = [CaseRef(case_id=f"{pdir.name}_frame{t + 1:02d}", patient=pdir.name, image_path=cine, time_index=t,
                    frame=t + 1, phase=phases.get(t + 1), dataset="acdc", sequence="bssfp")
            for t in range(shape[3])]
    return finalize_refs(refs, pdir)

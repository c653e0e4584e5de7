"""nnU-Net v2 raw dataset layout (``DatasetXXX_Name/``), a common exchange format for segmentation data.

``dataset.json`` (``channel_names``, ``labels``: name -> code, ``file_ending``), ``imagesTr/<case>_0000<ending>``,
``labelsTr/<case><ending>``, optional ``imagesTs/`` (and ``labelsTs/``). Label codes are mapped to cmrseg's
by their *names* (e.g. ACDC's ``RV``/``MLV``/``LVC``, M&Ms' ``LVBP``/``LVM``/``RV``). Only channel ``0000``
is read; multi-channel datasets say so in ``meta``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from cmrseg.errors import InputError
from cmrseg.io.base import CaseRef, check_folder, finalize_refs
from cmrseg.io.nifti import is_nifti
from cmrseg.labels import BACKGROUND, LV, MYO, RV

#: Normalised label names (lower case, letters and digits only) -> cmrseg code.
LABEL_NAMES: dict[str, int] = {
    **dict.fromkeys(["background", "bg", "bkg", "backgroundclass"], BACKGROUND),
    **dict.fromkeys(["rv", "rightventricle", "rvcavity", "rvc", "rvbp", "rvbloodpool", "rvendo",
                     "rightventricular", "rightventricularcavity", "rightventricularbloodpool",
                     "rightventriclebloodpool", "rightventriclecavity"], RV),
    **dict.fromkeys(["myo", "myocardium", "lvmyo", "lvmyocardium", "myolv", "mlv", "lvm", "myocard",
                     "leftventricularmyocardium", "leftventriclemyocardium", "lvwall", "myocardial",
                     "lvmyocardial", "leftmyocardium"], MYO),
    **dict.fromkeys(["lv", "leftventricle", "lvc", "lvcavity", "lvbp", "lvbloodpool", "lvendo", "lvblood",
                     "leftventricular", "leftventricularcavity", "leftventricularbloodpool",
                     "leftventriclebloodpool", "leftventriclecavity"], LV),
}


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def looks_like_nnunet(root: Path) -> bool:
    """``dataset.json`` next to ``imagesTr/`` or ``imagesTs/``."""
    root = Path(root)
    return (root / "dataset.json").is_file() and ((root / "imagesTr").is_dir() or (root / "imagesTs").is_dir())


def read_dataset_json(root: Path) -> dict:
    path = Path(root) / "dataset.json"
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # ValueError: JSON syntax and non-UTF-8 bytes
        raise InputError(f"cannot read dataset.json ({exc})", path, "fix the JSON syntax") from exc
    if not isinstance(spec, dict) or not isinstance(spec.get("labels"), dict):
        raise InputError("dataset.json has no 'labels' dict (nnU-Net v2 format: name -> code)", path)
    return spec


def label_map_from_names(labels: dict, path: Path) -> dict[int, int]:
    """Map dataset codes to cmrseg codes by label name; raises listing the names it cannot place."""
    mapping: dict[int, int] = {}
    unknown = []
    for name, code in labels.items():
        if not isinstance(code, int) or isinstance(code, bool):
            raise InputError(f"label {name!r} has code {code!r}; region-based labels (lists) are not supported",
                             path, "give one integer code per structure")
        target = LABEL_NAMES.get(_norm(name))
        if target is None:
            unknown.append(name)
        else:
            mapping[code] = target
    if unknown:
        raise InputError(
            f"cannot map label names {unknown} to cmrseg structures (names found: {list(labels)})", path,
            "name the labels background, RV, MYO and LV (common spellings such as 'right ventricle', "
            "'myocardium', 'LV blood pool' are understood) in dataset.json")
    targets = sorted(mapping.values())
    if len(targets) != len(set(targets)):
        raise InputError(f"several labels map to the same structure: {labels}", path)
    mapping.setdefault(0, BACKGROUND)
    return mapping


def _cases(images: Path, ending: str) -> list[str]:
    return sorted(p.name[: -len("_0000" + ending)] for p in images.glob(f"*_0000{ending}"))


def patient_frame(case: str) -> tuple[str, int | None, str | None]:
    """``patient001_frame01`` -> (``patient001``, 1, None); ``X_ED`` -> (``X``, None, ``ED``)."""
    m = re.match(r"^(.*)_frame(\d+)$", case)
    if m:
        return m[1], int(m[2]), None
    m = re.match(r"^(.*)_(ED|ES)$", case, re.IGNORECASE)
    if m:
        return m[1], None, m[2].upper()
    return case, None, None


def list_nnunet(root: Path) -> list[CaseRef]:
    """List ``imagesTr`` (split ``train``, labelled) and ``imagesTs`` (split ``test``) cases.

    The patient id drops a trailing ``_frameNN``/``_ED``/``_ES`` so frames of one patient stay together.
    """
    root = Path(root)
    check_folder(root)
    spec = read_dataset_json(root)
    json_path = root / "dataset.json"
    ending = spec.get("file_ending", ".nii.gz")
    if not is_nifti(f"x{ending}"):
        raise InputError(f"file_ending {ending!r} is not supported (only .nii/.nii.gz)", json_path,
                         "convert the images to NIfTI")
    label_map = label_map_from_names(spec["labels"], json_path)
    channels = spec.get("channel_names") or spec.get("modality") or {"0": "unknown"}
    meta = {"channel": f"0000 ({channels.get('0', channels.get(0, '?'))})"}
    if len(channels) > 1:
        meta["note"] = f"multi-channel dataset ({dict(channels)}); only channel 0000 is used"
    refs = []
    for images, labels, split in (("imagesTr", "labelsTr", "train"), ("imagesTs", "labelsTs", "test")):
        if not (root / images).is_dir():
            continue
        for case in _cases(root / images, ending):
            label = root / labels / f"{case}{ending}"
            patient, frame, phase = patient_frame(case)
            refs.append(CaseRef(case_id=case, patient=patient, image_path=root / images / f"{case}_0000{ending}",
                                label_path=label if label.is_file() else None, frame=frame, phase=phase,
                                dataset="nnunet", split=split, label_map=label_map,
                                meta={**meta, "dataset_name": spec.get("name")}))
    return finalize_refs(refs, root)

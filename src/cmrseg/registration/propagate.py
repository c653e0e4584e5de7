"""Label propagation: warp a labelled frame's mask onto other frames of the same patient.

Both frames are preprocessed with the registrator's settings (1.5 mm, 224 px by default), registered slice by
slice (target = fixed, labelled source = moving), the source's one-hot labels warped bilinearly, restored to
the **target frame's own voxel grid** (:func:`cmrseg.data.preprocess.restore_probabilities`) and arg-maxed.
Outputs are NIfTI label maps ``<target case_id>.nii.gz`` with the target's affine, the format that
``data.extra_labels`` reads for training. Optional masking sets pixels to ``4`` (= ignore): where the
deformation folds (Jacobian determinant <= 0) or where the warped label's top probability is low.

Three inputs:

* a dataset: for every patient with ED and ES frames, ED -> ES, ES -> ED or both;
* a dataset with ``all_frames``: the source phase to every frame of each patient's 4D cine (ACDC download
  ``patientXXX_4d.nii.gz``, M&Ms ``<code>_sa.nii.gz``);
* one 4D cine file with a label map of one of its frames.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from cmrseg.data.case import Case, validate_label
from cmrseg.data.preprocess import preprocess, restore_map, restore_probabilities
from cmrseg.errors import InputError
from cmrseg.io.base import CaseRef
from cmrseg.io.nifti import read_nifti, read_nifti_4d, strip_nifti_suffix, write_nifti
from cmrseg.labels import UNANNOTATED
from cmrseg.models.registration import jacobian_determinant
from cmrseg.registration.registrators import Registrator, warp_probabilities

log = logging.getLogger(__name__)

DIRECTIONS = {"ed2es": (("ED", "ES"),), "es2ed": (("ES", "ED"),), "both": (("ED", "ES"), ("ES", "ED"))}
CINE_SUFFIXES = ("_4d", "_sa")


@dataclass
class Propagation:
    """One propagated label map and how it was obtained."""

    source_id: str
    target_id: str
    label: np.ndarray  # (z, y, x) uint8 on the target's input grid; 4 = masked (ignore)
    label_pre: np.ndarray  # (z, fov, fov) on the preprocessed grid, unmasked
    displacement: np.ndarray  # (z, 2, fov, fov) px on the target's preprocessed grid
    neg_jacobian_share: float  # share of preprocessed-grid pixels where the deformation folds
    seconds: float  # preprocess + register + warp + restore


def propagate_case(registrator: Registrator, source: Case, target: Case, mask_folding: bool = False,
                   min_confidence: float = 0.0) -> Propagation:
    """Warp ``source.label`` onto ``target`` (another frame of the same short-axis stack).

    Args:
        mask_folding: set pixels where the deformation folds to 4 (ignore).
        min_confidence: set pixels whose warped top-class probability is below this to 4 (0 = off).

    Raises:
        InputError: the source has no label, or the frames have different numbers of slices.
    """
    if source.label is None:
        raise InputError(f"source frame {source.case_id} has no label map to propagate", source.source,
                         "give the labelled frame (e.g. ED with its _gt file) as the source")
    if source.shape[0] != target.shape[0]:
        raise InputError(f"{source.case_id} has {source.shape[0]} slices but {target.case_id} has "
                         f"{target.shape[0]}; slice z of one frame must correspond to slice z of the other",
                         target.source, "propagate between frames of the same cine stack")
    t0 = time.perf_counter()
    cfg = registrator.preprocess
    src, dst = preprocess(source, cfg), preprocess(target.with_label(None), cfg)
    disp = registrator.register(src.image, dst.image)
    probs = torch.from_numpy(warp_probabilities(src.label, disp))
    full = restore_probabilities(probs, dst.geometry)
    label = full.argmax(1).numpy().astype(np.uint8)
    det = jacobian_determinant(disp)
    if mask_folding:
        fold = torch.from_numpy((det <= 0).astype(np.float32))[:, None]
        label[restore_map(fold, dst.geometry, torch.zeros(1, 1, 1))[:, 0].numpy() >= 0.5] = UNANNOTATED
    if min_confidence > 0:
        label[full.amax(1).numpy() < min_confidence] = UNANNOTATED
    seconds = time.perf_counter() - t0
    return Propagation(source.case_id, target.case_id, label, probs.argmax(1).numpy().astype(np.uint8), disp,
                       float((det <= 0).mean()), seconds)


def _write(prop: Propagation, target: Case, out_dir: Path) -> Path:
    return write_nifti(prop.label, target.affine, Path(out_dir) / f"{target.case_id}.nii.gz")


def cine_name(path: str | Path) -> str:
    """Patient/case stem of a cine file: ``patient001_4d.nii.gz`` -> ``patient001``, ``A1B2_sa.nii.gz`` -> ``A1B2``."""
    stem = strip_nifti_suffix(Path(path).name)
    for suffix in CINE_SUFFIXES:
        if stem.endswith(suffix):
            return stem[: -len(suffix)]
    return stem


def read_cine(path: str | Path, name: str | None = None) -> list[Case]:
    """Every frame of a 4D cine NIfTI as a :class:`Case` ``<name>_frameYY`` (``YY`` = time index + 1)."""
    arr, spacing, affine = read_nifti_4d(path)
    name = name or cine_name(path)
    return [Case(image=arr[t], spacing=spacing, affine=affine, case_id=f"{name}_frame{t + 1:02d}", patient=name,
                 frame=t + 1, source=Path(path), meta={"time_index": t}) for t in range(arr.shape[0])]


def propagate_cine_cases(registrator: Registrator, source: Case, frames: list[Case], out_dir: str | Path,
                         mask_folding: bool = False, min_confidence: float = 0.0,
                         progress: bool = False) -> list[Propagation]:
    """Propagate ``source``'s labels to every frame in ``frames`` except itself; writes ``<case_id>.nii.gz``."""
    done = []
    for target in tqdm(frames, desc=f"frames of {source.patient}", leave=False, disable=not progress):
        if target.case_id == source.case_id:
            continue
        prop = propagate_case(registrator, source, target, mask_folding, min_confidence)
        _write(prop, target, Path(out_dir))
        done.append(prop)
    return done


def propagate_cine_file(registrator: Registrator, cine: str | Path, label: str | Path, time_index: int,
                        out_dir: str | Path, **kw: object) -> list[Propagation]:
    """Propagate the label map of frame ``time_index`` (0-based) of a 4D cine file to all its other frames.

    Raises:
        InputError: frame out of range, or a label map that does not fit the cine's 3D grid.
    """
    frames = read_cine(cine)
    if not 0 <= time_index < len(frames):
        raise InputError(f"frame (time index) {time_index} is outside 0..{len(frames) - 1}", cine,
                         "give the 0-based time index of the labelled frame")
    lab, _, _ = read_nifti(label, kind="label")
    source = frames[time_index].with_label(validate_label(lab, frames[time_index].shape, label))
    return propagate_cine_cases(registrator, source, frames, out_dir, **kw)  # type: ignore[arg-type]


def _cine_of(ref: CaseRef) -> Path:
    """The 4D cine a frame comes from: its own file when it is a frame of a 4D NIfTI (M&Ms), else the ACDC
    download's ``patientXXX_4d.nii.gz`` beside it."""
    if ref.time_index is not None and Path(ref.image_path).is_file():
        return Path(ref.image_path)
    folder = Path(ref.image_path).parent
    for suffix in (".nii.gz", ".nii"):
        if (folder / f"{ref.patient}_4d{suffix}").is_file():
            return folder / f"{ref.patient}_4d{suffix}"
    raise InputError(f"no 4D cine found for {ref.patient}", folder,
                     "all-frames propagation needs the cine (ACDC download patientXXX_4d.nii.gz, M&Ms _sa.nii.gz)")


def propagate_dataset(registrator: Registrator, root: str | Path, out_dir: str | Path, direction: str = "ed2es",
                      split: str | None = None, layout: str | None = None, all_frames: bool = False,
                      mask_folding: bool = False, min_confidence: float = 0.0,
                      progress: bool = True, patients: list[str] | None = None) -> list[Propagation]:
    """Propagate labels between the ED and ES frames of every patient of a dataset (or to all cine frames).

    Args:
        direction: ``ed2es``, ``es2ed`` or ``both`` (with ``all_frames``: which phase is the source).
        split: only patients of this split (``train``/``val``; layouts without one get the default split).
        all_frames: propagate the source phase to every frame of the patient's 4D cine.
        patients: only these patients (e.g. the labelled ones of a label budget).

    Raises:
        InputError: unknown direction, or no patient with a labelled source frame.
    """
    from cmrseg.data.splits import assign_default_split
    from cmrseg.io import load_dataset

    if direction not in DIRECTIONS:
        raise InputError(f"unknown direction {direction!r}", None, f"use one of {sorted(DIRECTIONS)}")
    if all_frames and direction == "both":
        raise InputError("all-frames propagation needs one source phase", None, "use direction ed2es or es2ed")
    refs = load_dataset(Path(root), layout)
    if split is not None:
        assign_default_split(refs)
        refs = [r for r in refs if r.split == split]
    if patients is not None:
        refs = [r for r in refs if r.patient in set(patients)]
    by_patient: dict[str, dict[str, CaseRef]] = {}
    for r in refs:
        if r.phase in ("ED", "ES"):
            by_patient.setdefault(r.patient, {})[r.phase] = r
    out, skipped = [], []
    for patient, phases in tqdm(sorted(by_patient.items()), desc="propagate", disable=not progress):
        for src_phase, dst_phase in DIRECTIONS[direction]:
            src_ref = phases.get(src_phase)
            if src_ref is None or src_ref.label_path is None or (dst_phase not in phases and not all_frames):
                skipped.append(f"{patient} {src_phase}->{dst_phase}")
                continue
            source = src_ref.load()
            if all_frames:
                frames = read_cine(_cine_of(src_ref), name=patient)
                out += propagate_cine_cases(registrator, source, frames, out_dir, mask_folding, min_confidence)
                continue
            target = phases[dst_phase].load(with_label=False)
            prop = propagate_case(registrator, source, target, mask_folding, min_confidence)
            _write(prop, target, Path(out_dir))
            out.append(prop)
    if skipped:
        log.warning("skipped %d (no labelled source or no target frame): %s", len(skipped), ", ".join(skipped[:10]))
    if not out:
        raise InputError(f"nothing to propagate: no patient has a labelled {direction} source and a target frame",
                         root, "check the dataset's label files, the split and the direction")
    return out


def propagate_path(input: str | Path, out_dir: str | Path, registrator: str | None = None,
                   checkpoint: str | Path | None = None, label: str | Path | None = None,
                   frame: int | None = None, **kw: object) -> list[Propagation]:
    """What ``cmrseg propagate`` does: a 4D cine file (with ``label`` and ``frame``) or a dataset folder.

    ``registrator`` defaults to ``learned`` when a checkpoint is given, else ``demons``; ``kw`` go to
    :func:`propagate_dataset` (direction, split, all_frames, mask_folding, min_confidence).
    """
    from cmrseg.registration.registrators import create_registrator

    reg = create_registrator(registrator or ("learned" if checkpoint else "demons"), checkpoint)
    path = Path(input)
    if path.is_file():
        if label is None or frame is None:
            raise InputError("a single file is propagated as a 4D cine: the labelled frame is needed", path,
                             "pass --label <label map of that frame> and --frame <its 0-based time index>, "
                             "or give a dataset folder")
        kw = {k: v for k, v in kw.items() if k in ("mask_folding", "min_confidence")}
        return propagate_cine_file(reg, path, label, frame, out_dir, **kw)
    if not path.is_dir():
        raise InputError("input does not exist", path, "give a dataset folder or a 4D cine NIfTI file")
    return propagate_dataset(reg, path, out_dir, **kw)  # type: ignore[arg-type]

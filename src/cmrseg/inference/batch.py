"""Predict a file, a DICOM series, or every image in a folder, isolating failures per input."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tqdm.auto import tqdm

from cmrseg.errors import CmrsegError, InputError
from cmrseg.inference.predictor import Predictor
from cmrseg.io.nifti import is_nifti, strip_nifti_suffix
from cmrseg.postprocess.crf import CRFConfig

LABEL_SUFFIXES = ("_gt", "_scribble", "_manual", "_label", "_seg")


def _is_dicom_folder(path: Path) -> bool:
    files = [p for p in path.iterdir() if p.is_file()]
    return bool(files) and not any(is_nifti(p) for p in files) and any(
        p.suffix.lower() in (".dcm", "") or p.name.lower().endswith(".ima") for p in files)


def list_inputs(input: Path) -> list[Path]:
    """Image inputs under ``input``: itself (file or DICOM folder) or every non-label NIfTI below it."""
    if not input.exists():
        raise InputError("input does not exist", input)
    if input.is_file():
        return [input]
    if not any(input.iterdir()):
        raise InputError("folder is empty", input, "point to a folder holding NIfTI images or a DICOM series")
    if _is_dicom_folder(input):
        return [input]
    images = sorted(p for p in input.rglob("*") if p.is_file() and is_nifti(p)
                    and not strip_nifti_suffix(p.name).endswith(LABEL_SUFFIXES))
    if not images:
        raise InputError("no NIfTI images or DICOM series found", input,
                         "pass a .nii/.nii.gz file, a folder containing them, or a DICOM series folder")
    return images


def output_path(src: Path, output: Path, single: bool) -> Path:
    if single and is_nifti(output):
        return output
    stem = strip_nifti_suffix(src.name) if src.is_file() else src.name
    return output / f"{stem}.nii.gz"


def predict_paths(input: str | Path, output: str | Path, checkpoint: str | Path | Sequence[str | Path],
                  postprocess: bool = True, save_bias: bool = False,
                  crf: CRFConfig | None = None, device: str = "cpu",
                  rv_within_mm: float | None = None,
                  lv_enclosed: bool = False) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Predict every input; returns ``(written files, [(input, error message), ...])``.

    ``crf``: refine the probabilities with a dense CRF (:mod:`cmrseg.postprocess.crf`) before post-processing;
    ``rv_within_mm``, ``lv_enclosed``: see :mod:`cmrseg.postprocess.components`. Several checkpoints: their
    ensemble (mean probabilities).
    """
    input, output = Path(input), Path(output)
    srcs = list_inputs(input)
    predictor = Predictor.from_checkpoint(checkpoint, postprocess=postprocess, crf=crf, device=device,
                                          rv_within_mm=rv_within_mm, lv_enclosed=lv_enclosed)
    written: list[Path] = []
    failed: list[tuple[Path, str]] = []
    for src in tqdm(srcs, desc="predict", disable=len(srcs) < 2):
        try:
            written.append(predictor.predict_file(src, output_path(src, output, len(srcs) == 1), save_bias))
        except CmrsegError as exc:
            if len(srcs) == 1:
                raise
            failed.append((src, str(exc)))
    return written, failed

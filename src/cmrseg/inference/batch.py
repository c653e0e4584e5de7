"""Predict a file, a DICOM series, a cine, or every image in a folder, isolating failures per input.

3D inputs give one label map each; cines (4D NIfTI, multi-phase DICOM series) give a 4D label map with their
volume curve and clinical numbers (:mod:`cmrseg.inference.cine`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm.auto import tqdm

from cmrseg.errors import CmrsegError, InputError
from cmrseg.inference.predictor import Predictor
from cmrseg.io.dicom import has_dicom_files
from cmrseg.io.nifti import is_nifti, strip_nifti_suffix
from cmrseg.io.outputs import prepare_output_dir, prepare_output_file
from cmrseg.postprocess.config import PostprocessConfig

if TYPE_CHECKING:
    from cmrseg.inference.cine import CineResult

LABEL_SUFFIXES = ("_gt", "_scribble", "_manual", "_label", "_seg")
LABEL_PREFIXES = ("seg_", "label_")  # UK Biobank: seg_sa.nii.gz / label_sa.nii.gz beside sa.nii.gz


def is_label_name(name: str) -> bool:
    """A file name that marks a label map (``X_gt.nii.gz``, ``seg_sa.nii.gz``, ...), not an image to segment."""
    stem = strip_nifti_suffix(name)
    return stem.endswith(LABEL_SUFFIXES) or stem.startswith(LABEL_PREFIXES)


def _walk(root: Path) -> list[tuple[Path, list[str]]]:
    """``(folder, file names)`` below ``root``, sorted, following symlinked folders (each real folder once)."""
    seen: set[str] = set()
    out = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:  # a link cycle or a second link to the same folder
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames.sort()
        out.append((Path(dirpath), sorted(filenames)))
    return sorted(out, key=lambda item: item[0])


def list_inputs(input: Path) -> list[Path]:
    """Image inputs under ``input``: itself (file or DICOM series folder), or every non-label NIfTI file and
    every folder directly holding DICOM files below it (symlinked folders followed)."""
    input = Path(input)
    if not input.exists():
        raise InputError("input does not exist", input, "check the path")
    if input.is_file():
        return [input]
    if not any(input.iterdir()):
        raise InputError("folder is empty", input, "point to a folder holding NIfTI images or a DICOM series")
    found: list[Path] = []
    for folder, names in _walk(input):
        found += [folder / n for n in names if is_nifti(n) and not is_label_name(n)]
        if has_dicom_files(folder):
            found.append(folder)
    if not found:
        raise InputError("no NIfTI images or DICOM series found", input,
                         "pass a .nii/.nii.gz file, a folder containing them, or a DICOM series folder")
    return found


def output_path(src: Path, output: Path, single: bool, root: Path | None = None) -> Path:
    """Where the label map of ``src`` goes: ``output`` itself for a single input named ``.nii[.gz]``, else
    ``output/<input name>.nii.gz``; with ``root``, the input's folders below ``root`` are kept (a mirrored tree)."""
    if single and is_nifti(output):
        return output
    stem = strip_nifti_suffix(src.name) if src.is_file() else src.name
    if root is not None and src != root:
        rel = src.relative_to(root).parent
        return output / rel / f"{stem}.nii.gz"
    return output / f"{stem}.nii.gz"


def plan_outputs(srcs: Sequence[Path], input: Path, output: Path) -> dict[Path, Path]:
    """Output path of every input: flat in ``output`` when the names are unique, else the input tree mirrored
    (UK Biobank's ``<eid>/sa.nii.gz`` would otherwise all write ``sa.nii.gz``)."""
    flat = {src: output_path(src, output, len(srcs) == 1) for src in srcs}
    if len(set(flat.values())) == len(flat):
        return flat
    return {src: output_path(src, output, False, input) for src in srcs}


@dataclass
class PredictOutcome:
    """One input's result: the files written, or the error; ``cine`` holds a cine's numbers."""

    src: Path
    written: list[Path]
    error: str | None = None
    cine: CineResult | None = None


def predict_inputs(input: str | Path, output: str | Path, checkpoint: str | Path | Sequence[str | Path],
                   post: PostprocessConfig | None = None, save_bias: bool = False, device: str = "cpu",
                   frames: str = "all", phases_csv: str | Path | None = None, frame_ms: float | None = None,
                   threads: int | None = None,
                   on_outcome: Callable[[PredictOutcome], None] | None = None) -> list[PredictOutcome]:
    """Predict every input under ``input`` with one model load; a failing input is recorded, not raised
    (unless it is the only one).

    3D volumes give ``<name>.nii.gz``; cines give a 4D ``<name>.nii.gz`` plus ``<name>_volumes.csv``,
    ``<name>_volumes.png`` and ``<name>_clinical.json`` (:func:`cmrseg.inference.cine.predict_cine_file`;
    ``frames``, ``phases_csv``, ``frame_ms`` apply to cines only). ``post``: the post-processing
    (:class:`~cmrseg.postprocess.config.PostprocessConfig`; default components + holes); several checkpoints:
    their ensemble. ``on_outcome`` is called after each input (e.g. to print it).

    Raises:
        InputError: no inputs, or the only input failed.
    """
    from cmrseg.inference.cine import predict_cine_file
    from cmrseg.io.cine import Cine, read_input

    input, output = Path(input), Path(output)
    srcs = list_inputs(input)
    targets = plan_outputs(srcs, input, output)
    if len(srcs) == 1 and targets[srcs[0]] == output:
        prepare_output_file(output, "output label map")
    else:
        prepare_output_dir(output)  # before the model loads: an unwritable -o fails now, not after the work
    predictor = Predictor.from_checkpoint(checkpoint, post=post or PostprocessConfig(), device=device,
                                          threads=threads)
    outcomes: list[PredictOutcome] = []
    for src in tqdm(srcs, desc="predict", disable=len(srcs) < 2):
        dst = targets[src]
        try:
            t0 = time.perf_counter()
            data = read_input(src, phases_csv, frame_ms)
            seconds_read = time.perf_counter() - t0
            if isinstance(data, Cine):
                res = predict_cine_file(predictor, data, dst, frames, phases_csv, frame_ms)
                res.seconds_read = seconds_read
                outcome = PredictOutcome(src, res.paths, cine=res)
            else:
                outcome = PredictOutcome(src, [predictor.predict_file(src, dst, save_bias, case=data)])
        except CmrsegError as exc:
            if len(srcs) == 1:
                raise
            outcome = PredictOutcome(src, [], error=str(exc))
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    return outcomes


def predict_paths(input: str | Path, output: str | Path, checkpoint: str | Path | Sequence[str | Path],
                  post: PostprocessConfig | None = None, save_bias: bool = False,
                  device: str = "cpu") -> tuple[list[Path], list[tuple[Path, str]]]:
    """:func:`predict_inputs` as ``(written files, [(input, error message), ...])``."""
    outcomes = predict_inputs(input, output, checkpoint, post, save_bias, device)
    written = [p for o in outcomes for p in o.written]
    return written, [(o.src, o.error) for o in outcomes if o.error is not None]

"""The volumes a run's report lets people browse: the run's ``predictions/*.nii.gz`` paired with their images and
ground truth, read from the dataset the run was evaluated on (``data.root`` of its ``config.yaml``).

Nothing here raises for a run folder that lacks a part: a missing dataset, prediction folder or case only
produces a note, so a report can always be written (e.g. on a machine without the data).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from cmrseg.errors import CmrsegError
from cmrseg.io.base import natural_key
from cmrseg.io.nifti import read_nifti, strip_nifti_suffix

log = logging.getLogger(__name__)

#: Default number of volumes given a slice viewer (keeps a report near 10 MB for ACDC-sized volumes).
MAX_CASES = 20


@dataclass
class RunCases:
    """Lazy case dicts for :func:`cmrseg.report.viewer.viewers_html` plus notes on what was left out.

    Iterating loads one volume at a time (image, GT and prediction), so memory stays at one case.
    """

    pairs: list[tuple[Path, object]] = field(default_factory=list)  # (prediction file, CaseRef)
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.pairs)

    def __iter__(self) -> Iterator[dict]:
        for pred_path, ref in self.pairs:
            try:
                case = ref.load()  # type: ignore[attr-defined]
                pred, _, _ = read_nifti(pred_path, kind="label")
            except CmrsegError as exc:
                yield {"case_id": ref.case_id, "error": str(exc)}  # type: ignore[attr-defined]
                continue
            yield {"case_id": case.case_id, "image": case.image, "pred": pred, "gt": case.label,
                   "spacing": case.spacing}


def _data_source(run: Path, data_root: str | Path | None) -> tuple[Path | None, str | None]:
    """Dataset folder and layout of the run: ``data_root`` if given, else ``data`` of ``config.yaml``."""
    layout = None
    cfg_path = run / "config.yaml"
    if cfg_path.is_file():
        try:
            data = (yaml.safe_load(cfg_path.read_text(encoding="utf-8")) or {}).get("data") or {}
        except (yaml.YAMLError, AttributeError):
            data = {}
        layout = data.get("layout") if isinstance(data, dict) else None
        if data_root is None and isinstance(data, dict) and data.get("root"):
            data_root = data["root"]
    return (None if data_root is None else Path(data_root)), layout


def find_run_cases(run_dir: str | Path, data_root: str | Path | None = None,
                   max_cases: int = MAX_CASES) -> RunCases:
    """Pair the run's predictions with the dataset cases of the same id (first ``max_cases`` in natural order).

    Args:
        run_dir: run folder holding ``predictions/<case_id>.nii.gz`` (as ``cmrseg run`` writes it).
        data_root: dataset folder with images and ground truth; default ``data.root`` of ``config.yaml``.
        max_cases: at most this many volumes (0 = none).
    """
    from cmrseg.io import load_dataset

    run = Path(run_dir)
    out = RunCases()
    pred_dir = run / "predictions"
    preds = sorted((p for p in pred_dir.glob("*.nii*") if p.is_file()), key=lambda p: natural_key(p.name)) \
        if pred_dir.is_dir() else []
    if not preds:
        out.notes.append(f"no predictions ({pred_dir}/*.nii.gz): no slice viewers")
        return out
    root, layout = _data_source(run, data_root)
    if root is None or not root.is_dir():
        out.notes.append(f"dataset folder {root} (data.root of config.yaml) not found: no slice viewers; "
                         "pass the dataset with `cmrseg report RUN_DIR --data PATH`")
        return out
    try:
        refs = {ref.case_id: ref for ref in load_dataset(root, layout)}
    except CmrsegError as exc:
        out.notes.append(f"cannot list the dataset {root}: {exc}")
        return out
    unmatched = []
    for path in preds:
        case_id = strip_nifti_suffix(path.name)
        if case_id in refs:
            out.pairs.append((path, refs[case_id]))
        else:
            unmatched.append(case_id)
    if unmatched:
        out.notes.append(f"{len(unmatched)} prediction(s) without a case of that id in {root}: "
                         + ", ".join(unmatched[:10]) + (" ..." if len(unmatched) > 10 else ""))
    if len(out.pairs) > max_cases:
        out.notes.append(f"slice viewers for the first {max_cases} of {len(out.pairs)} volumes "
                         "(`cmrseg report --max-cases N` for more)")
        out.pairs = out.pairs[:max_cases]
    return out

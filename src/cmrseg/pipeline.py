"""The main job end to end: train -> predict validation volumes -> evaluate in mm -> figures -> HTML report.

With no data folder it runs on the built-in synthetic phantom (so ``make demo`` works on a fresh machine);
with ``--data PATH`` (any supported layout) the very same job runs on real data.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from tqdm.auto import tqdm

from cmrseg.config import Config, load_config
from cmrseg.data.splits import split_from_config
from cmrseg.errors import InputError
from cmrseg.inference import Predictor
from cmrseg.io.nifti import write_nifti

if TYPE_CHECKING:
    from cmrseg.metrics.evaluate import EvaluationResult
    from cmrseg.postprocess.config import PostprocessConfig

console = Console(stderr=True)

EMPTY_POLICY = ("empty masks: both empty -> Dice 1, distances 0; structure missed by the prediction or predicted "
                "where the GT is empty -> Dice 0 and HD95/ASSD = the image diagonal in mm (counted as missed / "
                "false positive, never dropped from the means)")


def protocol_text(cfg: Config, split_desc: str) -> str:
    """Human-readable evaluation protocol, stored with every result."""
    lab = "all training patients" if cfg.data.labelled is None else (
        (f"first {cfg.data.labelled} training patients (ascending id)" if cfg.data.labelled_order == "id" else
         f"first {cfg.data.labelled} training patients round-robin over the pathology groups")
        if isinstance(cfg.data.labelled, int)
        else f"patients {cfg.data.labelled}")
    chooser = ("selection-set (held-out training patients; val never chooses)" if cfg.data.selection
               else "val")
    return (f"data {cfg.data.root}; split: {split_desc}; labelled: {lab}; method {cfg.method.name}; "
            f"model {cfg.model.name}; up to {cfg.optim.iterations} iterations x batch {cfg.optim.batch_size}"
            + (f" within a {cfg.optim.budget_minutes}-minute time budget (LR schedule on elapsed time); "
               if cfg.optim.budget_minutes else "; ") +
            f"checkpoint rule: best mean {chooser} 3D Dice (LV, Myo, RV), checked every {cfg.train.val_every} "
            "iterations; "
            f"metrics: 3D Dice, HD95 and ASSD in mm on the original voxel grid after post-processing; "
            f"{EMPTY_POLICY}")


def score_references(refs: list, predictor: Predictor, out_dir: Path, protocol: str, progress: bool = True,
                     max_figures: int = 6) -> tuple["EvaluationResult", list]:
    """Predict ``refs`` (labelled case references) with ``predictor``; write predictions, overlays and tables.

    Writes ``out_dir/predictions/<case>.nii.gz``, ``out_dir/figures/<case>.png`` (first ``max_figures``) and
    ``out_dir/eval/`` (per_case.csv, summary.json, clinical.csv, agreement.json). Returns the evaluation
    (protocol and timing in ``extra``) and the (prediction, ground truth) case pairs.
    """
    from cmrseg.metrics import evaluate_cases
    from cmrseg.report.overlays import save_overlay

    pairs = []
    for i, ref in enumerate(tqdm(refs, desc="evaluate", disable=not progress)):
        gt = ref.load()
        if gt.label is None:
            raise InputError("case has no ground-truth label map, so it cannot be evaluated", ref.case_id,
                             "evaluate on a labelled dataset or split, or use `cmrseg predict` for unlabelled cases")
        pred = predictor.predict_case(gt)
        write_nifti(pred.label, gt.affine, out_dir / "predictions" / f"{ref.case_id}.nii.gz")
        pairs.append((gt.with_label(pred.label), gt))
        if i < max_figures:
            save_overlay(gt.image, pred.label, out_dir / "figures" / f"{ref.case_id}.png", gt=gt.label,
                         spacing=gt.spacing, title=ref.case_id)
    result = evaluate_cases(pairs)
    result.extra["protocol"] = protocol
    result.extra["timing_s_per_volume"] = predictor.timing_summary()
    result.save(out_dir / "eval")
    return result, pairs


def evaluate_run(run_dir: Path, cfg: Config, checkpoint: str = "best.pt", max_figures: int = 6) -> dict:
    """Predict the run's validation volumes with its checkpoint, save NIfTI + tables + overlays."""
    from cmrseg.io import load_dataset

    refs = load_dataset(Path(cfg.data.root), cfg.data.layout)
    split = split_from_config(refs, cfg.data, cfg.train.seed)
    predictor = Predictor.from_checkpoint(run_dir / "checkpoints" / checkpoint, threads=cfg.train.threads,
                                          device=cfg.train.device)
    result, pairs = score_references(split.val, predictor, run_dir, protocol_text(cfg, split.describe()),
                                     cfg.train.progress, max_figures)
    viewers = [{"case_id": gt.case_id, "image": gt.image, "pred": pred.label, "gt": gt.label,
                "spacing": gt.spacing} for pred, gt in pairs[:2]]
    return {**result.summary, **result.extra, "viewers": viewers}


def evaluate_checkpoint(checkpoint: str | Path | Sequence[str | Path], data: str | Path, out_dir: str | Path,
                        split: str | None = None, layout: str | None = None, threads: int = 1,
                        post: "PostprocessConfig | None" = None, progress: bool = True, max_figures: int = 6,
                        device: str = "cpu", patients: list[str] | None = None) -> "EvaluationResult":
    """Evaluate a trained checkpoint on every labelled case of another dataset (e.g. an unseen domain).

    ``data`` is any supported layout (ACDC, MS-CMRSeg ``mscmr_lge`` with ``split="val"``, nnU-Net raw, ...);
    its own label codes are mapped by its reader, so no conversion is needed. ``split`` keeps only the cases
    the layout puts in that split (``train`` / ``val`` / ``test``); ``patients`` then keeps only those patient
    ids (e.g. held-out training patients used to select a hyper-parameter). Several checkpoints: the mean of
    their probabilities (an ensemble, :class:`~cmrseg.models.ensemble.ProbabilityEnsemble`). ``post``: the
    post-processing (default: components + holes). Outputs as :func:`score_references`.
    """
    from cmrseg.io import load_dataset
    from cmrseg.postprocess.config import PostprocessConfig

    refs = [r for r in load_dataset(Path(data), layout) if r.label_path is not None]
    if split is not None:
        splits = sorted({str(r.split) for r in refs})
        refs = [r for r in refs if r.split == split]
        if not refs:
            raise InputError(f"no labelled case in split '{split}' (labelled cases are in: {splits})", data,
                             "pick one of those splits, or leave the split out to use every labelled case")
    if patients is not None:
        wanted = set(patients)
        missing = sorted(wanted - {r.patient for r in refs})
        if missing:
            raise InputError(f"patients {missing} have no labelled case{'' if split is None else f' in split {split!r}'}",
                             data, "name patients that have a ground-truth label map in the chosen split")
        refs = [r for r in refs if r.patient in wanted]
    if not refs:
        raise InputError("dataset has no labelled case to evaluate against", data,
                         "point the data folder at cases with ground-truth label maps")
    post = post or PostprocessConfig()
    from cmrseg.io.outputs import prepare_output_dir

    prepare_output_dir(out_dir, "evaluation folder")  # before any prediction
    predictor = Predictor.from_checkpoint(checkpoint, threads=threads, post=post, device=device)
    members = list(checkpoint) if isinstance(checkpoint, (list, tuple)) else [checkpoint]
    what = (f"checkpoint {members[0]}" if len(members) == 1 else
            f"ensemble (mean probabilities) of {len(members)} checkpoints {[str(m) for m in members]}")
    protocol = (f"{what} evaluated on every labelled case of {data}"
                f"{'' if split is None else f' split {split}'}"
                f"{'' if patients is None else f' patients {sorted(patients)}'} ({len(refs)} volumes; no "
                f"training on them); metrics: 3D Dice, HD95 and ASSD in mm on the original voxel grid; "
                f"{post.describe()}; {EMPTY_POLICY}")
    result, _ = score_references(refs, predictor, Path(out_dir), protocol, progress, max_figures)
    return result


def run_pipeline(config: str | Path | None, overrides: list[str] | None = None, data: str | Path | None = None,
                 name: str | None = None) -> Path:
    """Train, evaluate and report; returns the run folder."""
    from cmrseg.metrics.tables import render_table  # noqa: F401  (fail early if missing)
    from cmrseg.report import write_report

    overrides = list(overrides or [])
    load_config(config, overrides)  # a bad config or override fails here, before anything is written
    if data is None and not any(o.startswith("data.root=") for o in overrides):
        from cmrseg.data.phantom import write_phantom_dataset

        root = Path(".cache/cmrseg/phantom")
        if not (root / "patients.csv").exists():
            console.print("[bold]no --data given[/]: writing the built-in synthetic phantom dataset")
            write_phantom_dataset(root, n_patients=12, n_val=3, seed=0)
        overrides.append(f"data.root={root}")
    elif data is not None:
        overrides.append(f"data.root={data}")
    if name is not None:
        overrides.append(f"train.name={name}")
    cfg = load_config(config, overrides)
    from cmrseg.workflows import fit

    run_dir = fit(cfg, resume=(Path(cfg.train.out_dir) / cfg.train.name / "checkpoints" / "last.pt").exists())
    summary = evaluate_run(run_dir, cfg)
    summary.pop("viewers")
    console.print_json(json.dumps({k: v for k, v in summary.items() if k != "protocol"}, default=str))
    report = write_report(run_dir)  # slice viewers for every validation volume (up to 20)
    console.print(f"[bold green]report[/] {report}")
    return run_dir

"""Rounds of pseudo-labelling and retraining (self-training): a workflow above the engine, every round an
ordinary engine run (:func:`cmrseg.engine.train`), never the reverse.

Layout of a self-training run ``runs/<name>/``::

    round0/                      supervised pre-training (skipped with method.params.pretrained)
    round<r>/pseudo/*.nii.gz     pseudo-labels of the unlabelled training volumes (4 = ignored pixel)
    round<r>/pseudo_quality.csv  their Dice against the hidden labels, when those exist on disk (reporting only)
    round<r>/checkpoints/        the round's training run
    rounds.csv                   one row per round: val Dice of its best checkpoint, pseudo-label Dice
    checkpoints/best.pt          the final round's best checkpoint (fixed rule: last round, not chosen on val)

A killed run restarted with the same command resumes: finished rounds (``DONE`` marker) and finished
pseudo-label folders are kept, an interrupted round continues from its ``last.pt``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from tqdm.auto import tqdm

from cmrseg.checkpoint import load_checkpoint
from cmrseg.config.load import dump_config
from cmrseg.config.schema import Config, ExtraLabelsConfig
from cmrseg.engine import train
from cmrseg.io.base import CaseRef
from cmrseg.labels import UNANNOTATED
from cmrseg.methods.base import create_method
from cmrseg.metrics.overlap import dice_per_structure

console = Console(stderr=True)


def _round_config(cfg: Config, run_dir: Path, r: int) -> Config:
    c = cfg.model_copy(deep=True)
    c.train.out_dir, c.train.name = str(run_dir), f"round{r}"
    return c


def write_pseudo_labels(checkpoint: Path, refs: list[CaseRef], out: Path, crf: dict | None, confidence: float,
                        threads: int, progress: bool = True, device: str = "cpu") -> pd.DataFrame:
    """Predict ``refs`` (CRF-refined when ``crf`` is a dict of CRF params), write ``<case_id>.nii.gz``.

    Returns per-case quality: Dice of the pseudo-label against the case's hidden label file when present
    (used for reporting only; training never reads it), and the share of pixels kept after confidence masking.
    """
    from cmrseg.inference import Predictor
    from cmrseg.io.nifti import write_nifti

    from cmrseg.postprocess.config import PostprocessConfig
    from cmrseg.postprocess.crf import CRFConfig

    post = PostprocessConfig(crf=None if crf is None else CRFConfig(**crf))
    predictor = Predictor.from_checkpoint(checkpoint, threads=threads, device=device, post=post)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for ref in tqdm(refs, desc=f"pseudo-label {out.parent.name}", disable=not progress):
        case = ref.load(with_label=ref.label_path is not None)  # one read; the predictor drops the label
        pred = predictor.predict_case(case, return_probabilities=confidence > 0)
        label = pred.label.copy()
        row: dict[str, object] = {"case_id": ref.case_id}
        if case.label is not None:  # hidden ground truth: scored for the report, never used to train
            row.update({f"dice_{name}": d for name, d in dice_per_structure(label, case.label).items()})
        if confidence > 0 and pred.probabilities is not None:
            label[pred.probabilities.max(0) < confidence] = UNANNOTATED
        row["kept"] = float((label != UNANNOTATED).mean())
        write_nifti(label, case.affine, out / f"{ref.case_id}.nii.gz")
        rows.append(row)
    return pd.DataFrame(rows)


def train_rounds(cfg: Config, resume: bool = False) -> Path:
    """Run a self-training method: round 0 (or a pretrained checkpoint), then R pseudo-label/retrain rounds."""
    from cmrseg.data.splits import split_from_config
    from cmrseg.io import load_dataset

    method = create_method(cfg.method)
    run_dir = Path(cfg.train.out_dir) / cfg.train.name
    run_dir.mkdir(parents=True, exist_ok=True)
    dump_config(cfg, run_dir / "config.yaml")
    refs = load_dataset(Path(cfg.data.root), cfg.data.layout)
    split = split_from_config(refs, cfg.data, cfg.train.seed)
    opt = method.params
    rows: list[dict] = []

    pretrained = opt.pretrained
    if pretrained:
        prev = Path(pretrained)
    else:
        r0 = run_dir / "round0"
        if not (r0 / "DONE").exists():
            sup = [t for t in (cfg.method.terms or []) if t.stream != "pseudo"] or None
            c0 = _round_config(cfg, run_dir, 0)
            c0.method.name, c0.method.terms, c0.method.params = "supervised", sup, {}
            train(c0, resume=resume and (r0 / "checkpoints" / "last.pt").exists())
            (r0 / "DONE").write_text("done\n", encoding="utf-8")
        prev = r0 / "checkpoints" / "best.pt"
    rows.append({"round": 0, "val_dice_mean": float(load_checkpoint(prev).get("best_metric", np.nan))})

    crf = opt.crf_params if opt.crf else None
    iters = opt.round_iterations or cfg.optim.iterations
    for r in range(1, opt.rounds + 1):
        rdir = run_dir / f"round{r}"
        pseudo = rdir / "pseudo"
        quality_csv = rdir / "pseudo_quality.csv"
        if not quality_csv.exists():
            if pseudo.exists():
                shutil.rmtree(pseudo)  # an interrupted pseudo-labelling pass: redo it whole
            quality = write_pseudo_labels(prev, split.unlabelled, pseudo, crf, opt.confidence,
                                          cfg.train.threads, cfg.train.progress, cfg.train.device)
            quality.to_csv(quality_csv, index=False)
        quality = pd.read_csv(quality_csv)
        if not (rdir / "DONE").exists():
            c = _round_config(cfg, run_dir, r)
            c.data.extra_labels = {**c.data.extra_labels,
                                   "pseudo": ExtraLabelsConfig(labels_dir=str(pseudo), pool="unlabelled")}
            c.optim.iterations = iters
            c.train.init_from = None if opt.reinit else str(prev)
            train(c, resume=(rdir / "checkpoints" / "last.pt").exists())
            (rdir / "DONE").write_text("done\n", encoding="utf-8")
        prev = rdir / "checkpoints" / "best.pt"
        row = {"round": r, "val_dice_mean": float(load_checkpoint(prev).get("best_metric", np.nan))}
        row.update({f"pseudo_{k}": float(quality[k].mean()) for k in quality.columns if k != "case_id"})
        rows.append(row)
        console.print(f"[bold]round {r}[/] {row}")
    pd.DataFrame(rows).to_csv(run_dir / "rounds.csv", index=False)
    (run_dir / "checkpoints").mkdir(exist_ok=True)
    shutil.copyfile(prev, run_dir / "checkpoints" / "best.pt")
    return run_dir

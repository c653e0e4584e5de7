"""Benchmark: shape and position priors (issue 5) at one or more label budgets: U-Net, SCN, SRNN, SRSCN, ACNN, ...

One sweep (:func:`cmrseg.workflows.sweep.run_sweep`: methods x budgets x seeds, finished runs reused, interrupted
ones resumed) trains each configuration of the ablation with the same data, label budget, iteration budget and
optimiser, scores it on ACDC val and on MS-CMRSeg LGE val (a cross-sequence test, never trained on) and prints
mean +- sd over seeds of Dice per structure and mean HD95 (mm) after post-processing. Then, per run, the share of
val volumes with anatomically impossible results on the network's raw argmax (before post-processing) and after
it (see cmrseg.metrics.anatomy: impossible = LV not enclosed by myocardium on some slice, or a structure in
several pieces within a slice; 3D fragmentation is shown apart, expert labels have it too), with the ground
truth's own rates as a reference row.

The SRNN / SRSCN / ACNN rows need a pre-trained shape autoencoder: each configuration's own
(method.params.autoencoder), or --autoencoder for all of them. A missing one is trained first with the config
that writes it (configs/acdc/shape_ae.yaml or shape_dae.yaml: label maps of all training patients, minutes).

    python benchmarks/shape_priors.py --data ../shared/data/acdc --labelled 7 --iterations 4000 \
        [--budget-minutes 55] [--methods unet scn srnn srscn acnn adversarial srscn_unl unet_unl unet_lge srscn_ae_unl srscn_dae_unl
         explog srscn_explog]
        [--seeds 0 1 2] [--sweep-dir runs/sweep/shape_priors] [--jobs 1] [--set train.device=cuda] [--dry-run]

Runs: ``<sweep-dir>/shape_<method>_i<iterations>_l<N>_s<seed>``. Without --budget-minutes the runs are
iteration-budgeted (optim.budget_minutes and train.max_minutes unset), so every method gets exactly --iterations
steps whatever its cost per step.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from common import add_sweep_args, sweep_or_plan

from cmrseg.config import Config, load_config
from cmrseg.workflows.sweep import Arm, EvalSet, SweepSpec

ABLATION = {  # key -> (table name, config)
    "unet": ("U-Net", "configs/acdc/supervised_7.yaml"),
    "scn": ("SCN", "configs/acdc/scn_7.yaml"),
    "srnn": ("SRNN", "configs/acdc/srnn_7.yaml"),
    "srscn": ("SRSCN", "configs/acdc/srscn_7.yaml"),
    "acnn": ("ACNN", "configs/acdc/acnn_7.yaml"),
    "adversarial": ("adversarial", "configs/acdc/adversarial_7.yaml"),
    "srscn_unl": ("SRSCN + AE on unlabelled", "configs/acdc/srscn_unlabelled_7.yaml"),
    "unet_unl": ("U-Net + AE on unlabelled", "configs/acdc/unet_ae_unlabelled_7.yaml"),
    "unet_lge": ("U-Net + AE on unlabelled LGE", "configs/acdc/unet_ae_lge_7.yaml"),
    "srscn_ae_unl": ("SRSCN, shape prior on unlabelled", "configs/acdc/srscn_ae_unlabelled_7.yaml"),
    "srscn_dae_unl": ("SRSCN, denoising shape prior on unlabelled", "configs/acdc/srscn_dae_unlabelled_7.yaml"),
    "explog": ("U-Net, exp-log loss", "configs/acdc/explog_7.yaml"),
    "srscn_explog": ("SRSCN, exp-log loss", "configs/acdc/srscn_explog_7.yaml"),
}
NEEDS_AE = {"srnn", "srscn", "acnn", "srscn_unl", "unet_unl", "unet_lge", "srscn_ae_unl", "srscn_dae_unl",
            "srscn_explog"}
AE_CONFIGS = ("configs/acdc/shape_ae.yaml", "configs/acdc/shape_dae.yaml")  # the configs that write shape AEs
CHECKS = ("impossible", "lv_not_enclosed", "fragmented_3d", "fragmented_2d")


def autoencoder_path(config: str, override: str | None) -> Path:
    """The shape AE checkpoint a configuration uses: ``override`` (--autoencoder) or its own."""
    return Path(override or load_config(config).method.params["autoencoder"])


def ensure_autoencoder(path: Path, data: str, extra: list[str]) -> None:
    """Train the shape AE that writes ``path`` (one of AE_CONFIGS) unless it exists: a prerequisite of the
    sweep's AE-based arms, one engine run."""
    from cmrseg.engine import train

    if path.exists():
        return
    writes = {c: load_config(c) for c in AE_CONFIGS}
    owner = [c for c, cfg in writes.items() if Path(cfg.train.out_dir) / cfg.train.name / "checkpoints/best.pt" == path]
    if not owner:
        raise SystemExit(f"shape AE {path} is missing and none of {AE_CONFIGS} writes it: train it, or pass "
                         "--autoencoder with an existing checkpoint")
    print(f"[shape AE] {path} missing: training {owner[0]} first")
    run = train(load_config(owner[0], [f"data.root={data}", *extra]))
    if not path.exists():
        raise SystemExit(f"the shape AE run {run} did not write {path}; pass --autoencoder {run}/checkpoints/best.pt")


def anatomy_rows(run_dir: Path, cfg: Config) -> tuple[dict, dict, dict]:
    """Anatomy shares on the val volumes: raw argmax, post-processed prediction, ground truth."""
    from tqdm.auto import tqdm

    from cmrseg.data.splits import split_from_config
    from cmrseg.inference import Predictor
    from cmrseg.io import load_dataset
    from cmrseg.metrics.anatomy import anatomy_checks, anatomy_summary

    refs = load_dataset(Path(cfg.data.root), cfg.data.layout)
    split = split_from_config(refs, cfg.data, cfg.train.seed)
    predictor = Predictor.from_checkpoint(run_dir / "checkpoints" / "best.pt", threads=cfg.train.threads,
                                          device=cfg.train.device)
    raw, post, gt = [], [], []
    for ref in tqdm(split.val, desc="anatomy", leave=False, disable=not cfg.train.progress):
        case = ref.load()
        pred = predictor.predict_case(case)
        raw.append(anatomy_checks(pred.raw_label))
        post.append(anatomy_checks(pred.label))
        gt.append(anatomy_checks(case.label))
    return anatomy_summary(raw), anatomy_summary(post), anatomy_summary(gt)


def run_key(method: str, iterations: int) -> str:
    """Run folder stem of one method of the ablation (the sweep appends ``_l<N>_s<seed>``)."""
    return f"shape_{method}_i{iterations}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data/acdc")
    ap.add_argument("--labelled", nargs="+", type=int, default=[7], help="label budgets: first N training patients")
    ap.add_argument("--iterations", type=int, default=4000)
    ap.add_argument("--budget-minutes", type=float, default=None, help="time budget per run (default: none)")
    ap.add_argument("--methods", nargs="+", default=list(ABLATION), choices=list(ABLATION))
    ap.add_argument("--autoencoder", default=None,
                    help="shape AE checkpoint for every AE-based row (default: each configuration's own)")
    ap.add_argument("--lge", default="../shared/data/mscmr_lge",
                    help="MS-CMRSeg LGE root: its val split is a cross-sequence test of every run ('' to skip)")
    add_sweep_args(ap, "shape_priors")
    return ap.parse_args(argv)


def build_spec(args: argparse.Namespace) -> SweepSpec:
    """One arm per method (its table name, its config, the shared AE override where it uses one)."""
    budget = ([f"optim.budget_minutes={args.budget_minutes}", f"train.max_minutes={args.budget_minutes + 3}"]
              if args.budget_minutes else ["optim.budget_minutes=null", "train.max_minutes=null"])
    arms = [Arm(ABLATION[key][1], (f"method.params.autoencoder={args.autoencoder}",)
                if key in NEEDS_AE and args.autoencoder else (), ABLATION[key][0], run_key(key, args.iterations))
            for key in args.methods]
    return SweepSpec(arms, list(args.labelled), args.seeds, args.sweep_dir,
                     [f"data.root={args.data}", f"optim.iterations={args.iterations}", *budget, *args.set],
                     [EvalSet("lge", args.lge, "val")] if args.lge else [], jobs=args.jobs)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    spec = build_spec(args)
    if not args.dry_run:
        for key in sorted(NEEDS_AE & set(args.methods)):
            ensure_autoencoder(autoencoder_path(ABLATION[key][1], args.autoencoder), args.data, list(args.set))
    runs = sweep_or_plan(spec, args.dry_run)
    if runs is None:
        return
    rows, gt_row = [], None
    for r in runs.itertuples():
        run_dir = spec.out_dir / r.run
        raw, post, gt = anatomy_rows(run_dir, load_config(run_dir / "config.yaml", []))
        rows.append({"method": r.config, "labelled": r.labelled, "seed": r.seed,
                     **{f"raw_{c}": round(raw[c], 2) for c in CHECKS}, "pp_impossible": round(post["impossible"], 2)})
        gt_row = {"method": "ground truth", "labelled": "-", "seed": "-",
                  **{f"raw_{c}": round(gt[c], 2) for c in CHECKS}, "pp_impossible": round(gt["impossible"], 2)}
    with pd.option_context("display.width", 250, "display.max_columns", 40):
        print("\n" + pd.DataFrame(rows + ([gt_row] if gt_row else [])).to_string(index=False))
    print(f"\nLabel budget: first {'/'.join(map(str, args.labelled))} training patients; {args.iterations} iterations "
          "per run" + (f" within {args.budget_minutes} min" if args.budget_minutes else " (no time budget)") + ". "
          "raw_*: share of val volumes failing an anatomy check on the raw argmax "
          "(impossible = LV not enclosed by myocardium on some slice, or a structure in several components within "
          "a slice; fragmented_3d: several 3D components, not counted as impossible); pp_impossible: the same "
          "after post-processing (largest 3D component per structure, hole filling). The SRNN/SRSCN/ACNN shape AE "
          "saw the label maps (no images) of all training patients. lge: the same checkpoint on MS-CMRSeg LGE val "
          "(5 subjects, another sequence and centre; never trained on).")


if __name__ == "__main__":
    main()

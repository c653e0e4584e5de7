"""Benchmark: shape and position priors (issue 5) at one label budget: U-Net, SCN, SRNN, SRSCN, ACNN, adversarial.

Trains each configuration of the ablation (or reuses finished runs with --reuse) with the same data, label
budget, iteration budget and optimiser, predicts the val volumes on their own voxel grid and prints Dice per
structure, HD95 / ASSD (mm) after post-processing, and the share of val volumes with anatomically impossible
results on the network's raw argmax (before post-processing) and after it (see cmrseg.metrics.anatomy:
impossible = LV not enclosed by myocardium on some slice, or a structure in several pieces within a slice;
3D fragmentation is shown apart, expert labels have it too). The ground truth's own rates are a reference row.

The SRNN / SRSCN / ACNN rows need a pre-trained shape autoencoder: each configuration's own
(method.params.autoencoder), or --autoencoder for all of them. A missing one is trained first with the config
that writes it (configs/acdc/shape_ae.yaml or shape_dae.yaml: label maps of all training patients, minutes).

    python benchmarks/shape_priors.py --data ../shared/data/acdc --labelled 7 --iterations 4000 \
        [--budget-minutes 55] [--methods unet scn srnn srscn acnn adversarial srscn_unl unet_unl unet_lge srscn_ae_unl srscn_dae_unl
         explog srscn_explog]
        [--seeds 0 1 2] [--reuse] [--set train.threads=1]

Without --budget-minutes the runs are iteration-budgeted (optim.budget_minutes and train.max_minutes unset),
so every method gets exactly --iterations steps whatever its cost per step.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from common import STRUCTS, print_table, seed_summary, seeded_run_name, train_and_evaluate
from tqdm.auto import tqdm

from cmrseg.config import Config, load_config
from cmrseg.data.splits import split_from_config
from cmrseg.engine import train
from cmrseg.inference import Predictor
from cmrseg.io import load_dataset
from cmrseg.metrics.anatomy import anatomy_checks, anatomy_summary
from cmrseg.pipeline import evaluate_checkpoint

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
    """Train the shape AE that writes ``path`` (one of AE_CONFIGS) unless it exists."""
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
    refs = load_dataset(Path(cfg.data.root), cfg.data.layout)
    split = split_from_config(refs, cfg.data, cfg.train.seed)
    predictor = Predictor.from_checkpoint(run_dir / "checkpoints" / "best.pt", threads=cfg.train.threads)
    raw, post, gt = [], [], []
    for ref in tqdm(split.val, desc="anatomy", leave=False, disable=not cfg.train.progress):
        case = ref.load()
        pred = predictor.predict_case(case)
        raw.append(anatomy_checks(pred.raw_label))
        post.append(anatomy_checks(pred.label))
        gt.append(anatomy_checks(case.label))
    return anatomy_summary(raw), anatomy_summary(post), anatomy_summary(gt)


def metric_columns(summary: dict) -> dict:
    """Dice / HD95 / ASSD per structure, mean Dice and mean HD95 (mm, over LV/Myo/RV) from an evaluation summary."""
    out = {}
    for metric, key, nd in (("Dice", "dice_mean", 3), ("HD95", "hd95_mm_mean", 2), ("ASSD", "assd_mm_mean", 2)):
        out.update({f"{metric}_{s}": round(summary[s][key], nd) for s in STRUCTS})
    out["Dice_mean"] = round(summary["mean"]["dice_mean"], 3)
    out["HD95_mean"] = round(summary["mean"]["hd95_mm_mean"], 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data/acdc")
    ap.add_argument("--labelled", type=int, default=7, help="label budget: first N training patients")
    ap.add_argument("--iterations", type=int, default=4000)
    ap.add_argument("--budget-minutes", type=float, default=None, help="time budget per run (default: none)")
    ap.add_argument("--methods", nargs="+", default=list(ABLATION), choices=list(ABLATION))
    ap.add_argument("--autoencoder", default=None,
                    help="shape AE checkpoint for every AE-based row (default: each configuration's own)")
    ap.add_argument("--reuse", action="store_true", help="evaluate existing runs instead of training")
    ap.add_argument("--lge", default="../shared/data/mscmr_lge",
                    help="MS-CMRSeg LGE root: its val split is a cross-sequence test of every run ('' to skip)")
    ap.add_argument("--set", nargs="*", default=[], help="extra overrides for every run")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0],
                    help="one run per method and seed (seed N > 0: run name + '_seed<N>'); >1 seed adds a mean +- sd "
                         "table")
    args = ap.parse_args()
    budget = ([f"optim.budget_minutes={args.budget_minutes}", f"train.max_minutes={args.budget_minutes + 3}"]
              if args.budget_minutes else ["optim.budget_minutes=null", "train.max_minutes=null"])
    for key in sorted(NEEDS_AE & set(args.methods)):
        ensure_autoencoder(autoencoder_path(ABLATION[key][1], args.autoencoder), args.data, list(args.set))
    rows, gt_row = [], None
    for key, seed in ((k, s) for k in args.methods for s in args.seeds):
        name, config = ABLATION[key]
        run_name = seeded_run_name(f"shape_{key}_l{args.labelled}_i{args.iterations}", seed)
        overrides = [f"data.root={args.data}", f"data.labelled={args.labelled}", f"optim.iterations={args.iterations}",
                     *budget, f"train.name={run_name}", f"train.seed={seed}", *args.set]
        if key in NEEDS_AE and args.autoencoder:
            overrides.append(f"method.params.autoencoder={args.autoencoder}")
        cfg, run_dir, summary = train_and_evaluate(config, overrides, args.reuse)
        raw, post, gt = anatomy_rows(run_dir, cfg)
        hist = pd.read_csv(run_dir / "history.csv")
        lge = {}
        if args.lge:
            lge_sum = evaluate_checkpoint(run_dir / "checkpoints" / "best.pt", args.lge, run_dir / "lge_val",
                                          split="val", progress=False).summary
            lge = {"LGE_Dice_mean": round(lge_sum["mean"]["dice_mean"], 3),
                   "LGE_HD95_mean": round(lge_sum["mean"]["hd95_mm_mean"], 2)}
        rows.append({"method": name, "seed": seed, "train_min": round(float(hist["minutes"].iloc[-1]), 1),
                     "iters": int(hist["iteration"].iloc[-1]), **metric_columns(summary), **lge,
                     **{f"raw_{c}": round(raw[c], 2) for c in CHECKS}, "pp_impossible": round(post["impossible"], 2)})
        gt_row = {"method": "ground truth", **{f"raw_{c}": round(gt[c], 2) for c in CHECKS},
                  "pp_impossible": round(gt["impossible"], 2)}
        print(f"\n[{name}] protocol: {summary['protocol']}")
    with pd.option_context("display.width", 250, "display.max_columns", 40):
        print("\n" + pd.DataFrame(rows + ([gt_row] if gt_row else [])).to_string(index=False))
    print(f"\nLabel budget: first {args.labelled} training patients; {args.iterations} iterations per run"
          + (f" within {args.budget_minutes} min" if args.budget_minutes else " (no time budget)") + ". "
          "Dice 3D, HD95/ASSD in mm, on the original grid after post-processing (largest 3D component per "
          "structure, hole filling). raw_*: share of val volumes failing an anatomy check on the raw argmax "
          "(impossible = LV not enclosed by myocardium on some slice, or a structure in several components within "
          "a slice; fragmented_3d: several 3D components, not counted as impossible); pp_impossible: the same "
          "after post-processing. The SRNN/"
          "SRSCN/ACNN shape AE saw the label maps (no images) of all training patients. LGE_*: the same checkpoint "
          "on MS-CMRSeg LGE val (5 subjects, another sequence and centre; never trained on).")
    if len(args.seeds) > 1:
        print("\nOver seeds (sample sd; HD95_mean = mean of the three structures' mean HD95, mm):")
        print_table(seed_summary(rows, by="method"), note=None)


if __name__ == "__main__":
    main()

"""Benchmark: choose a shape prior's loss weight on held-out training patients, never on val (issue 5).

The prior weights of the ablation (configs/acdc/srscn_7.yaml: shape term 8.2, position 0.1) were set once from
the reference's ratio of loss magnitudes, not selected; the exp-log run showed they do not transfer between
segmentation losses. This script trains one run per weight of one term (the other terms as in the config), scores
each run's checkpoint on a *selection set* (labelled training patients outside the label budget: by default the
last 10 training patients in id order, none of them used for training) and on ACDC val, and names the weight with
the best selection-set mean Dice. Val is reported, not used to choose the weight.

    python benchmarks/prior_weights.py --method srscn --term shape_recon --weights 0.82 2.6 8.2 26 \
        --labelled 7 --iterations 2000 [--baseline unet] [--seeds 0 1 2] [--reuse] [--jobs 1] [--set train.threads=1 ...]

Run names: the config's own weight reuses the ablation run of shape_priors.py (``shape_<method>_l<N>_i<it>``),
other weights are ``shape_<method>_<term><w>_l<N>_i<it>``; ``--baseline`` (a method of shape_priors.py without
the term, e.g. unet) adds its run as weight 0. Checkpoint rule: each run's best.pt (highest val mean Dice among
the engine's periodic evaluations), the same rule as every row of the ablation, so val does pick the checkpoint
within a run; the weight is picked by the selection set alone.
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import pandas as pd
from common import dice_columns, lge_columns, train_and_evaluate
from shape_priors import ABLATION, NEEDS_AE, autoencoder_path, ensure_autoencoder

from cmrseg.config import load_config
from cmrseg.io import load_dataset
from cmrseg.pipeline import EMPTY_POLICY, evaluate_checkpoint


def term_override(config: str, term: str, weight: float) -> tuple[str, float]:
    """``method.terms=[...]`` with ``term``'s weight replaced (lists are replaced whole by overrides), and the
    config's own weight of that term."""
    cfg = load_config(config)
    terms = [t.model_dump(mode="json") for t in cfg.method.terms]
    hits = [t for t in terms if t["loss"] == term]
    if len(hits) != 1:
        raise SystemExit(f"{config}: expected one '{term}' term, found {len(hits)} (terms: "
                         f"{[t['loss'] for t in terms]})")
    own = float(hits[0]["weight"])
    hits[0]["weight"] = weight
    return "method.terms=" + json.dumps(terms), own


def selection_patients(data: str, labelled: int, n: int) -> list[str]:
    """The last ``n`` labelled training patients in id order, refusing any inside the first ``labelled``."""
    refs = load_dataset(Path(data))
    train = sorted({r.patient for r in refs if r.split == "train" and r.label_path is not None})
    chosen = train[-n:]
    if len(train) - n < labelled:
        raise SystemExit(f"selection set of {n} overlaps the first {labelled} labelled patients ({len(train)} in all)")
    return chosen


def sweep_jobs(args: argparse.Namespace, config: str, seed: int) -> list[tuple[str, float, str, list[str], str]]:
    """(method key, weight, run name, extra overrides, config) per run of one seed: the baseline (its own method
    key, weight 0), then each weight of ``args.method`` (weight 0 there is a control, not the baseline)."""
    suffix = f"_l{args.labelled}_i{args.iterations}" + (f"_seed{seed}" if seed else "")
    jobs = ([(args.baseline, 0.0, f"shape_{args.baseline}{suffix}", [], ABLATION[args.baseline][1])]
            if args.baseline else [])
    for w in args.weights:
        override, own = term_override(config, args.term, w)
        name = f"shape_{args.method}{suffix}" if w == own else f"shape_{args.method}_{args.term}{w:g}{suffix}"
        extra = ([f"method.params.autoencoder={args.autoencoder}"]
                 if args.method in NEEDS_AE and args.autoencoder else [])
        jobs.append((args.method, w, name, [override, *extra], config))
    return jobs


def saved_summary(path: Path) -> dict:
    """Per-structure scores of a saved evaluation (``summary.json`` of cmrseg.pipeline)."""
    if not path.is_file():
        raise SystemExit(f"--saved: {path} is missing; evaluate that run first (drop --saved, add --reuse)")
    return json.loads(path.read_text(encoding="utf-8"))["structures"]


def run_job(cfg_path: str, overrides: list[str], mode: str, data: str, sel: list[str], meta: dict,
            lge: str = "") -> dict:
    """One table row: train (mode ``train``) or reuse (``reuse``) a run and score its best.pt on val and on the
    selection set (and on ``lge``'s val split when given), or read those scores back from the run's saved
    evaluations (``saved``)."""
    if mode == "saved":
        cfg = load_config(cfg_path, overrides)
        run_dir = Path(cfg.train.out_dir) / cfg.train.name
        val, chosen = (saved_summary(run_dir / sub / "summary.json") for sub in ("eval", "selection/eval"))
        cross = dice_columns("LGE", saved_summary(run_dir / "lge_val" / "eval" / "summary.json")) if lge else {}
    else:
        cfg, run_dir, val = train_and_evaluate(cfg_path, overrides, mode == "reuse")
        chosen = evaluate_checkpoint(run_dir / "checkpoints" / "best.pt", data, run_dir / "selection", split="train",
                                     patients=sel, progress=False, threads=cfg.train.threads,
                                     device=cfg.train.device).summary
        cross = lge_columns(run_dir, lge, cfg.train.threads, cfg.train.device) if lge else {}
    hist = pd.read_csv(run_dir / "history.csv")
    return {**meta, "iters": int(hist["iteration"].iloc[-1]),
            "best_iter": int(hist.loc[hist["val/dice_mean"].idxmax(), "iteration"]),
            **dice_columns("sel", chosen), **dice_columns("val", val), **cross}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data/acdc")
    ap.add_argument("--method", default="srscn", choices=list(ABLATION))
    ap.add_argument("--term", default="shape_recon", help="loss name of the term whose weight is swept")
    ap.add_argument("--weights", nargs="+", type=float, required=True)
    ap.add_argument("--baseline", default=None, choices=list(ABLATION), help="method without the term (weight 0)")
    ap.add_argument("--labelled", type=int, default=7)
    ap.add_argument("--iterations", type=int, default=2000)
    ap.add_argument("--selection", type=int, default=10, help="number of held-out training patients to select on")
    ap.add_argument("--autoencoder", default=None, help="shape AE checkpoint (default: the configuration's own)")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0],
                    help="one run per weight and seed (seed N > 0: run name + '_seed<N>'); the weight with the best "
                         "selection-set mean Dice averaged over seeds is chosen")
    ap.add_argument("--reuse", action="store_true", help="evaluate existing runs instead of training")
    ap.add_argument("--saved", action="store_true",
                    help="print the tables from the runs' saved evaluations (eval/ and selection/eval/ summary.json "
                         "under train.out_dir) without checkpoints: runs trained and scored on another machine")
    ap.add_argument("--jobs", type=int, default=1,
                    help="runs trained and evaluated at once, one process each (e.g. several runs sharing one GPU "
                         "with --set train.device=cuda train.threads=1)")
    ap.add_argument("--lge", default="", help="also score every run on this dataset's val split (e.g. "
                    "../shared/data/mscmr_lge: another sequence); reported, never used for the choice")
    ap.add_argument("--set", nargs="*", default=[], help="extra overrides for every run")
    args = ap.parse_args()
    sel = selection_patients(args.data, args.labelled, args.selection)
    config = ABLATION[args.method][1]
    base = [f"data.root={args.data}", f"data.labelled={args.labelled}", f"optim.iterations={args.iterations}",
            "optim.budget_minutes=null", "train.max_minutes=null", *args.set]
    if args.method in NEEDS_AE and not args.saved:
        ensure_autoencoder(autoencoder_path(config, args.autoencoder), args.data, list(args.set))
    mode = "saved" if args.saved else "reuse" if args.reuse else "train"
    jobs = [(cfg_path, [*base, f"train.seed={seed}", f"train.name={name}", *extra], mode, args.data, sel,
             {"method": key, "weight": w, "seed": seed, "run": name}, args.lge)
            for seed in args.seeds for key, w, name, extra, cfg_path in sweep_jobs(args, config, seed)]
    if args.jobs > 1:  # spawn: CUDA cannot be used in forked children
        with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
            rows = list(pool.map(run_job, *zip(*jobs)))
    else:
        rows = [run_job(*job) for job in jobs]
    df = pd.DataFrame(rows)
    with pd.option_context("display.width", 250, "display.max_columns", 40):
        print("\n" + df.to_string(index=False))
    cols = ["sel_mean", "sel_HD95", "val_mean", "val_HD95"] + (["LGE_mean", "LGE_HD95"] if args.lge else [])
    arms = df.groupby(["method", "weight"], sort=False)  # the baseline and a weight-0 control stay apart
    by_arm = arms[cols].agg(["mean", "std"]).round(3)
    by_arm.insert(0, ("seeds", "n"), arms.size())
    if len(args.seeds) > 1:
        with pd.option_context("display.width", 250, "display.max_columns", 40):
            print("\nOver seeds (mean, sample sd):\n" + by_arm.to_string())
    best_method, best = by_arm[("sel_mean", "mean")].idxmax()
    b = by_arm.loc[(best_method, best)]
    print(f"\nSelected on the selection set: {best_method} with {args.term} weight {best:g} (seeds {args.seeds}): "
          "selection mean Dice "
          f"{b[('sel_mean', 'mean')]:.3f}, val mean Dice {b[('val_mean', 'mean')]:.3f}, val mean HD95 "
          f"{b[('val_HD95', 'mean')]:.2f} mm.")
    print(f"\nProtocol: {args.method} ({config}) with the {args.term} weight swept, other terms as configured; first "
          f"{args.labelled} ACDC training patients labelled, {args.iterations} iterations, seeds {args.seeds}. Selection "
          f"set: training patients {sel[0]}..{sel[-1]} ({len(sel)} patients, ED+ES; never trained on; the shape "
          "autoencoder did see their label maps, as it saw every training patient's). sel_*/val_*: 3D Dice per "
          "structure and mean, mean HD95 in mm over LV/Myo/RV, on the original grid after post-processing; "
          f"{EMPTY_POLICY}. Checkpoint: best.pt (val picks it among the periodic evaluations, as for every "
          "ablation row); the weight is chosen on sel_mean only.")


if __name__ == "__main__":
    main()

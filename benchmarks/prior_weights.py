"""Benchmark: choose a shape prior's loss weight on held-out training patients, never on val (issue 5).

The prior weights of the ablation (configs/acdc/srscn_7.yaml: shape term 8.2, position 0.1) were set once from
the reference's ratio of loss magnitudes, not selected; the exp-log run showed they do not transfer between
segmentation losses. This script sweeps (:func:`cmrseg.workflows.sweep.run_sweep`) one arm per weight of one term
(the other terms as in the config) over seeds, with a *selection set* held out of training (``data.selection``:
the last --selection labelled training patients in id order, neither labelled nor unlabelled for any run). The
selection set chooses each run's checkpoint and the weight (best selection-set mean Dice averaged over seeds);
ACDC val (and --lge) is reported, never used for a choice.

    python benchmarks/prior_weights.py --method srscn --term shape_recon --weights 0.82 2.6 8.2 26 \
        --labelled 7 --iterations 2000 [--baseline unet] [--selection 10] [--seeds 0 1 2] \
        [--lge ../shared/data/mscmr_lge] [--sweep-dir runs/sweep/prior_weights] [--jobs 1] \
        [--set train.device=cuda ...] [--dry-run]

Runs: ``<sweep-dir>/<method>_<term><w>_l<N>_s<seed>``; ``--baseline`` (a method of shape_priors.py without the
term, e.g. unet) adds its runs (``<baseline>_l<N>_s<seed>``) as weight 0. Runs trained and scored elsewhere
(each folder with ``DONE``, ``history.csv`` and its evaluations' ``summary.json``) are tabulated without their
checkpoints when copied under --sweep-dir.
"""

from __future__ import annotations

import argparse
import json

import pandas as pd
from common import add_sweep_args, sweep_or_plan
from shape_priors import ABLATION, NEEDS_AE, autoencoder_path, ensure_autoencoder

from cmrseg.config import load_config
from cmrseg.workflows.sweep import Arm, EvalSet, SweepSpec


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


def arms(args: argparse.Namespace) -> dict[str, tuple[str, float]]:
    """Arm name -> (method key, weight): the baseline (its own method key, weight 0), then each weight of
    ``args.method`` (weight 0 there is a control, not the baseline)."""
    out = {f"{args.baseline} (no {args.term})": (args.baseline, 0.0)} if args.baseline else {}
    out.update({f"{args.method} {args.term}={w:g}": (args.method, w) for w in args.weights})
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
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
    ap.add_argument("--lge", default="", help="also score every run on this dataset's val split (e.g. "
                    "../shared/data/mscmr_lge: another sequence); reported, never used for the choice")
    add_sweep_args(ap, "prior_weights")
    return ap.parse_args(argv)


def build_spec(args: argparse.Namespace) -> SweepSpec:
    config = ABLATION[args.method][1]
    ae = ((f"method.params.autoencoder={args.autoencoder}",)
          if args.method in NEEDS_AE and args.autoencoder else ())
    spec_arms = []
    for name, (key, w) in arms(args).items():
        if key == args.method:
            spec_arms.append(Arm(config, (term_override(config, args.term, w)[0], *ae), name,
                                 f"{key}_{args.term}{w:g}"))
        else:
            spec_arms.append(Arm(ABLATION[key][1], (), name, key))
    return SweepSpec(spec_arms, [args.labelled], args.seeds, args.sweep_dir,
                     [f"data.root={args.data}", f"data.selection={args.selection}",
                      f"optim.iterations={args.iterations}", "optim.budget_minutes=null", "train.max_minutes=null",
                      *args.set], [EvalSet("lge", args.lge, "val")] if args.lge else [], jobs=args.jobs)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    spec = build_spec(args)
    config = ABLATION[args.method][1]
    if args.method in NEEDS_AE and not args.dry_run:
        ensure_autoencoder(autoencoder_path(config, args.autoencoder), args.data, list(args.set))
    if sweep_or_plan(spec, args.dry_run) is None:
        return
    from cmrseg.pipeline import EMPTY_POLICY

    table = pd.read_csv(spec.out_dir / "table.csv")
    best = table.loc[table["sel_dice_mean"].idxmax()]
    method, weight = arms(args)[best["config"]]
    print(f"\nSelected on the selection set: {method} with {args.term} weight {weight:g} (seeds {args.seeds}): "
          f"selection mean Dice {best['sel_dice_mean']:.3f}, val mean Dice {best['val_dice_mean']:.3f}, val mean "
          f"HD95 {best['val_hd95_mean']:.2f} mm.")
    print(f"\nProtocol: {args.method} ({config}) with the {args.term} weight swept, other terms as configured; first "
          f"{args.labelled} ACDC training patients labelled, {args.iterations} iterations, seeds {args.seeds}. Selection "
          f"set: the last {args.selection} labelled training patients (ED+ES; never trained on; the shape "
          "autoencoder did see their label maps, as it saw every training patient's). sel / val: 3D Dice per "
          "structure and mean, mean HD95 in mm over LV/Myo/RV, on the original grid after post-processing; "
          f"{EMPTY_POLICY}. Checkpoint: best.pt, the best selection-set mean Dice among the engine's periodic "
          "evaluations; the weight is chosen on sel mean Dice only.")


if __name__ == "__main__":
    main()

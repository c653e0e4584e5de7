"""Benchmark: train several configs on the same data (one sweep: configs x seeds) and print one comparison table.

Used for method-vs-baseline comparisons, e.g. the Mumford-Shah issue at 3 labelled patients:

    python benchmarks/compare_configs.py configs/acdc/supervised_3.yaml configs/acdc/ms_semi_3.yaml \
        --data ../shared/data/acdc [--seeds 0 1 2] [--labelled 3 7] [--eval lge=../shared/data/mscmr_lge:val] \
        [--sweep-dir runs/sweep/compare] [--set train.device=cuda] [--figure-case patient002_frame01] [--dry-run]

Each run is trained once (finished runs are reused, interrupted ones resumed) and evaluated on the validation
split of its own config (same split for the same data), on the input voxel grid; the table holds mean +- sd
over seeds per config (and budget: ``--labelled``, by default each config's own), the protocol below it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common import add_sweep_args, sweep_or_plan

from cmrseg.workflows.sweep import EvalSet, SweepSpec


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("configs", nargs="+")
    ap.add_argument("--data", default=None, help="override data.root of every config")
    ap.add_argument("--labelled", nargs="+", type=int, default=None,
                    help="label budgets (first N training patients); default: each config's own data.labelled")
    ap.add_argument("--eval", nargs="*", default=[], help="other labelled sets to score every run on: "
                    "NAME=ROOT[:SPLIT], e.g. lge=../shared/data/mscmr_lge:val")
    ap.add_argument("--figure-case", default=None, help="also draw this case (e.g. patient002_frame01) as "
                    "predicted by each run's best.pt and last.pt (raw argmax), into --figure-dir")
    ap.add_argument("--figure-dir", default="benchmarks/out/compare")
    add_sweep_args(ap, "compare")
    return ap.parse_args(argv)


def build_spec(args: argparse.Namespace) -> SweepSpec:
    return SweepSpec(list(args.configs), args.labelled or [None], args.seeds, args.sweep_dir,
                     ([f"data.root={args.data}"] if args.data else []) + list(args.set),
                     [EvalSet.parse(e) for e in args.eval], jobs=args.jobs)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    spec = build_spec(args)
    runs = sweep_or_plan(spec, args.dry_run)
    if runs is not None and args.figure_case:
        for run in runs["run"]:
            for path in draw_best_and_last(spec.out_dir / run, args.figure_case, Path(args.figure_dir)):
                print(f"figure: {path}")


def draw_best_and_last(run_dir: Path, case_id: str, out: Path) -> list[Path]:
    """Overlays of ``case_id`` (from the run's own data root) predicted by the run's best and last checkpoints
    (raw argmax, no post-processing): shows what the selected model does and what training turned into by the
    end (e.g. an MS term taking over)."""
    from cmrseg.config import load_config
    from cmrseg.inference import Predictor
    from cmrseg.io import load_dataset
    from cmrseg.report.overlays import save_overlay

    root = load_config(run_dir / "config.yaml", []).data.root
    refs = [r for r in load_dataset(root) if r.case_id == case_id]
    if not refs:
        raise SystemExit(f"--figure-case {case_id}: no such case in {root}")
    case = refs[0].load()
    paths = []
    for ck in ("best", "last"):
        pred = Predictor.from_checkpoint(run_dir / "checkpoints" / f"{ck}.pt", post=False).predict_case(case)
        paths.append(save_overlay(case.image, pred.label, out / f"{run_dir.name}_{ck}_{case_id}.png", gt=case.label,
                                  spacing=case.spacing, title=f"{run_dir.name} {ck}.pt, {case_id} (raw argmax)"))
    return paths


if __name__ == "__main__":
    main()

"""Benchmark: train (or reuse) several configs on the same data and print one comparison table.

Used for method-vs-baseline comparisons, e.g. the Mumford-Shah issue at 3 labelled patients:

    python benchmarks/compare_configs.py configs/acdc/supervised_3.yaml configs/acdc/ms_semi_3.yaml \
        --data ../shared/data/acdc [--reuse] [--set train.threads=1] [--seeds 0 1 2]

Each row is evaluated on the validation split of its own config (same split for the same data), on the
input voxel grid, with the protocol printed above the table.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common import print_table, result_row, seed_summary, seeded_run_name, train_and_evaluate

from cmrseg.config import load_config


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("configs", nargs="+")
    ap.add_argument("--data", default=None, help="override data.root of every config")
    ap.add_argument("--reuse", action="store_true", help="evaluate existing runs instead of training")
    ap.add_argument("--set", nargs="*", default=[], help="extra overrides for every config")
    ap.add_argument("--figure-case", default=None, help="also draw this case (e.g. patient002_frame01) as "
                    "predicted by each run's best.pt and last.pt (raw argmax), into --figure-dir")
    ap.add_argument("--figure-dir", default="benchmarks/out/compare")
    ap.add_argument("--seeds", nargs="+", type=int, default=None,
                    help="train every config once per seed (seed N > 0: run name + '_seed<N>') and add a mean +- sd "
                         "table")
    args = ap.parse_args()
    rows = []
    for config in args.configs:
        overrides = ([f"data.root={args.data}"] if args.data else []) + list(args.set)
        for seed in args.seeds or [None]:
            extra = []
            if seed is not None:
                name = load_config(config, overrides).train.name
                extra = [f"train.seed={seed}", f"train.name={seeded_run_name(name, seed)}"]
            cfg, run_dir, summary = train_and_evaluate(config, overrides + extra, args.reuse)
            rows.append({"config": config, "method": cfg.method.name, "seed": cfg.train.seed,
                         **result_row(run_dir, summary)})
            print(f"\n[{config}] protocol: {summary['protocol']}")
            if args.figure_case:
                for path in draw_best_and_last(run_dir, cfg.data.root, args.figure_case, Path(args.figure_dir)):
                    print(f"figure: {path}")
    print_table(rows)
    if args.seeds and len(args.seeds) > 1:
        print("\nOver seeds (sample sd; HD95_mean = mean of the three structures' mean HD95, mm):")
        print_table(seed_summary(rows, by="config"), note=None)


def draw_best_and_last(run_dir: Path, root: str, case_id: str, out: Path) -> list[Path]:
    """Overlays of ``case_id`` predicted by the run's best and last checkpoints (raw argmax, no post-processing):
    shows what the selected model does and what training turned into by the end (e.g. an MS term taking over)."""
    from cmrseg.inference import Predictor
    from cmrseg.io import load_dataset
    from cmrseg.report.overlays import save_overlay

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

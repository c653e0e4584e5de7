"""Benchmark: supervised 2D U-Net on ACDC (70 and 7 labelled patients), evaluated on the 10 val patients.

Trains each configuration (or reuses a finished run with --reuse), then predicts the val volumes on their own
voxel grid and prints per-structure Dice, HD95 and ASSD (mm) and the LVEF / RVEF / LV-mass errors, with the
protocol. Targets (foundation issue): mean Dice >= 0.88 (70 labelled), >= 0.75 (7), each <= 60 min on 2 cores.

    python benchmarks/acdc_supervised.py --data ../shared/data/acdc [--reuse] [--configs 70 7]
"""

from __future__ import annotations

import argparse

from common import print_table, result_row, train_and_evaluate

CONFIGS = {"70": "configs/acdc/supervised_70.yaml", "7": "configs/acdc/supervised_7.yaml"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data/acdc")
    ap.add_argument("--configs", nargs="+", default=["70", "7"], choices=list(CONFIGS))
    ap.add_argument("--reuse", action="store_true", help="evaluate existing runs instead of training")
    ap.add_argument("--run-prefix", default="acdc_sup", help="run names are <prefix><N>")
    ap.add_argument("--set", nargs="*", default=[], help="extra config overrides")
    args = ap.parse_args()
    rows = []
    for key in args.configs:
        overrides = [f"data.root={args.data}", f"train.name={args.run_prefix}{key}", *args.set]
        _, run_dir, summary = train_and_evaluate(CONFIGS[key], overrides, args.reuse)
        rows.append({"labelled": key, **result_row(run_dir, summary)})
        print(f"\n[{key} labelled] protocol: {summary['protocol']}")
    print_table(rows)


if __name__ == "__main__":
    main()

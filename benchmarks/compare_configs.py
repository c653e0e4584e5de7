"""Benchmark: train (or reuse) several configs on the same data and print one comparison table.

Used for method-vs-baseline comparisons, e.g. the Mumford-Shah issue at 3 labelled patients:

    python benchmarks/compare_configs.py configs/acdc/supervised_3.yaml configs/acdc/ms_semi_3.yaml \
        --data ../shared/data/acdc [--reuse] [--set train.threads=1]

Each row is evaluated on the validation split of its own config (same split for the same data), on the
input voxel grid, with the protocol printed above the table.
"""

from __future__ import annotations

import argparse

from common import print_table, result_row, train_and_evaluate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("configs", nargs="+")
    ap.add_argument("--data", default=None, help="override data.root of every config")
    ap.add_argument("--reuse", action="store_true", help="evaluate existing runs instead of training")
    ap.add_argument("--set", nargs="*", default=[], help="extra overrides for every config")
    args = ap.parse_args()
    rows = []
    for config in args.configs:
        overrides = ([f"data.root={args.data}"] if args.data else []) + list(args.set)
        cfg, run_dir, summary = train_and_evaluate(config, overrides, args.reuse)
        rows.append({"config": config, "method": cfg.method.name, **result_row(run_dir, summary)})
        print(f"\n[{config}] protocol: {summary['protocol']}")
    print_table(rows)


if __name__ == "__main__":
    main()

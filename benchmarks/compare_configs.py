"""Benchmark: train (or reuse) several configs on the same data and print one comparison table.

Used for method-vs-baseline comparisons, e.g. the Mumford-Shah issue at 3 labelled patients:

    python benchmarks/compare_configs.py configs/acdc/supervised_3.yaml configs/acdc/ms_semi_3.yaml \
        --data ../shared/data/acdc [--reuse] [--set train.threads=1] [--seeds 0 1 2]

Each row is evaluated on the validation split of its own config (same split for the same data), on the
input voxel grid, with the protocol printed above the table.
"""

from __future__ import annotations

import argparse

from common import print_table, result_row, seed_summary, train_and_evaluate

from cmrseg.config import load_config


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("configs", nargs="+")
    ap.add_argument("--data", default=None, help="override data.root of every config")
    ap.add_argument("--reuse", action="store_true", help="evaluate existing runs instead of training")
    ap.add_argument("--set", nargs="*", default=[], help="extra overrides for every config")
    ap.add_argument("--seeds", nargs="+", type=int, default=None,
                    help="train every config once per seed (run name + '_seed<N>') and add a mean +- sd table")
    args = ap.parse_args()
    rows = []
    for config in args.configs:
        overrides = ([f"data.root={args.data}"] if args.data else []) + list(args.set)
        for seed in args.seeds or [None]:
            extra = []
            if seed is not None:
                name = load_config(config, overrides).train.name
                extra = [f"train.seed={seed}", f"train.name={name}_seed{seed}"]
            cfg, run_dir, summary = train_and_evaluate(config, overrides + extra, args.reuse)
            rows.append({"config": config, "method": cfg.method.name, "seed": cfg.train.seed,
                         **result_row(run_dir, summary)})
            print(f"\n[{config}] protocol: {summary['protocol']}")
    print_table(rows)
    if args.seeds and len(args.seeds) > 1:
        print("\nOver seeds (sample sd; HD95_mean = mean of the three structures' mean HD95, mm):")
        print_table(seed_summary(rows, by="config"), note=None)


if __name__ == "__main__":
    main()

"""Benchmark: supervised 2D U-Net on ACDC (70 and 7 labelled patients), evaluated on the 10 val patients.

One sweep (:func:`cmrseg.workflows.sweep.run_sweep`) trains each configuration per seed (finished runs are
reused, interrupted ones resumed), predicts the val volumes on their own voxel grid and prints mean +- sd over
seeds of Dice per structure, mean HD95 (mm) and the LVEF / RVEF / LV-mass errors, with the protocol. Targets
(foundation issue): mean Dice >= 0.88 (70 labelled), >= 0.75 (7), each <= 60 min on 2 cores.

    python benchmarks/acdc_supervised.py --data ../shared/data/acdc [--configs 70 7] [--seeds 0 1 2] \
        [--sweep-dir runs/sweep/acdc_supervised] [--jobs 1] [--set train.device=cuda] [--dry-run]
"""

from __future__ import annotations

import argparse

from common import add_sweep_args, sweep_or_plan

from cmrseg.workflows.sweep import SweepSpec

CONFIGS = {"70": "configs/acdc/supervised_70.yaml", "7": "configs/acdc/supervised_7.yaml"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data/acdc")
    ap.add_argument("--configs", nargs="+", default=["70", "7"], choices=list(CONFIGS))
    add_sweep_args(ap, "acdc_supervised")
    return ap.parse_args(argv)


def build_spec(args: argparse.Namespace) -> SweepSpec:
    """Each configuration with its own label budget (``data.labelled`` as in the config)."""
    return SweepSpec([CONFIGS[k] for k in args.configs], [None], args.seeds, args.sweep_dir,
                     [f"data.root={args.data}", *args.set], jobs=args.jobs)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    sweep_or_plan(build_spec(args), args.dry_run)


if __name__ == "__main__":
    main()

"""Volume errors of evaluated runs per phase and structure, and per patient at one phase: where a Dice gain hides a
systematic volume (and so EF) error.

    python benchmarks/volume_errors.py runs/sweep/acdc/supervised_l3_s0/eval runs/sweep/acdc/semi_l3_s0/eval \
        --data ../shared/data/acdc --phase ES --structure LV

Reads each evaluation's ``per_case.csv`` (written by ``cmrseg evaluate`` / the sweep: predicted and reference
volumes in mL on the input grid) and prints, per folder, the mean Dice and mean volume error (prediction -
reference, mL) per phase and structure, then the per-patient error of ``--structure`` at ``--phase`` with the
patient's pathology group (``patients.csv`` of ``--data``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from cmrseg.io import load_dataset


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("evals", nargs="+", type=Path, help="evaluation folders holding per_case.csv")
    ap.add_argument("--data", default="../shared/data/acdc", help="dataset whose patients' groups to show")
    ap.add_argument("--phase", default="ES")
    ap.add_argument("--structure", default="LV")
    args = ap.parse_args()
    group = {r.patient: (r.meta or {}).get("group") for r in load_dataset(Path(args.data))}
    for folder in args.evals:
        d = pd.read_csv(folder / "per_case.csv")
        d["error_ml"] = d["pred_ml"] - d["gt_ml"]
        print(f"\n{folder}: mean Dice and mean volume error (prediction - reference, mL)")
        print(d.groupby(["phase", "structure"])[["dice", "error_ml"]].mean().round(3).unstack(0).to_string())
        one = d[(d["phase"] == args.phase) & (d["structure"] == args.structure)]
        one = one.assign(group=one["patient"].map(group))[["patient", "group", "gt_ml", "error_ml", "dice"]]
        print(f"{args.structure} at {args.phase}, per patient:")
        print(one.round(3).to_string(index=False))


if __name__ == "__main__":
    main()

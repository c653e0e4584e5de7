"""Label propagation ED <-> ES on ACDC val: identity vs classical (SimpleITK demons) vs learned (VoxelMorph).

For each val patient and direction (ED labels -> ES frame, ES labels -> ED frame) the source's expert labels
are propagated with :func:`cmrseg.registration.propagate.propagate_case` (preprocessed grid, one-hot bilinear
warping, restored to the target's own voxel grid, no post-processing) and compared with the target's expert
labels: Dice and HD95 (mm) per structure (:func:`cmrseg.metrics.evaluate.evaluate_pair`, 3D, on the target's
input grid), share of folding pixels (Jacobian determinant <= 0 on the preprocessed grid, whole field of view)
and seconds per pair (preprocess + register + warp + restore; 1 torch thread).

    .venv/bin/python benchmarks/propagation.py --data ../shared/data/acdc \
        -c runs/acdc_registration/checkpoints/best.pt --out benchmarks/out/propagation
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from cmrseg.io import load_dataset
from cmrseg.metrics.evaluate import evaluate_pair
from cmrseg.registration.pairs import phase_pairs
from cmrseg.registration.propagate import propagate_case
from cmrseg.registration.registrators import create_registrator


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="../shared/data/acdc")
    ap.add_argument("-c", "--checkpoint", help="vxm-2d checkpoint (the learned row is skipped without one)")
    ap.add_argument("--methods", nargs="+", default=["identity", "demons", "learned", "learned-symmetric"],
                    help="learned-symmetric: inverse-consistent inference of the same network")
    ap.add_argument("--split", default="val")
    ap.add_argument("--out", default="benchmarks/out/propagation")
    args = ap.parse_args()
    torch.set_num_threads(1)

    refs = [r for r in load_dataset(args.data) if r.split == args.split]
    pairs = phase_pairs(refs)
    cases = {r.case_id: r.load() for _, ed, es in pairs for r in (ed, es)}
    rows = []
    for name in args.methods:
        learned = name.startswith("learned")
        if learned and not args.checkpoint:
            print(f"no --checkpoint: skipping {name}")
            continue
        reg = (create_registrator("learned", args.checkpoint, symmetric=name == "learned-symmetric") if learned
               else create_registrator(name))
        for patient, ed, es in tqdm(pairs, desc=name):
            for src, dst, direction in ((ed, es, "ED->ES"), (es, ed, "ES->ED")):
                source, target = cases[src.case_id], cases[dst.case_id]
                prop = propagate_case(reg, source, target)
                for m in evaluate_pair(prop.label, target.label, target.spacing):
                    rows.append({"method": name, "patient": patient, "direction": direction,
                                 "structure": m.structure, "dice": m.dice, "hd95_mm": m.hd95_mm,
                                 "neg_jacobian_share": prop.neg_jacobian_share, "seconds": prop.seconds})
    df = pd.DataFrame(rows)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "per_pair.csv", index=False)

    table = []
    for (name, direction), d in df.groupby(["method", "direction"], sort=False):
        row = {"method": name, "direction": direction, "n_pairs": d["patient"].nunique()}
        for s in ("LV", "Myo", "RV"):
            row[f"dice_{s}"] = d.loc[d.structure == s, "dice"].mean()
        row["dice_mean"] = np.mean([row[f"dice_{s}"] for s in ("LV", "Myo", "RV")])
        for s in ("LV", "Myo", "RV"):
            row[f"hd95_{s}"] = d.loc[d.structure == s, "hd95_mm"].mean()
        row["neg_jac_pct"] = 100 * d.drop_duplicates("patient")["neg_jacobian_share"].mean()
        row["sec_per_pair"] = d.drop_duplicates("patient")["seconds"].mean()
        table.append(row)
    for name, d in df.groupby("method", sort=False):  # both directions together
        means = {s: d.loc[d.structure == s, "dice"].mean() for s in ("LV", "Myo", "RV")}
        table.append({"method": name, "direction": "both", "n_pairs": 2 * d["patient"].nunique(),
                      **{f"dice_{s}": v for s, v in means.items()}, "dice_mean": np.mean(list(means.values())),
                      **{f"hd95_{s}": d.loc[d.structure == s, "hd95_mm"].mean() for s in ("LV", "Myo", "RV")},
                      "neg_jac_pct": 100 * d.drop_duplicates(["patient", "direction"])["neg_jacobian_share"].mean(),
                      "sec_per_pair": d.drop_duplicates(["patient", "direction"])["seconds"].mean()})
    summary = pd.DataFrame(table)
    summary.to_csv(out / "summary.csv", index=False)
    (out / "summary.json").write_text(json.dumps(table, indent=2, default=float), encoding="utf-8")
    print(markdown(summary))


def markdown(df: pd.DataFrame) -> str:
    """A markdown table (3 decimals), without the optional ``tabulate`` dependency of ``DataFrame.to_markdown``."""
    fmt = lambda v: f"{v:.3f}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
